"""t2: the time-series transformer of Allam & McEwen (RASTI 2023) in TensorFlow/Keras.

Modules
-------
- ``params``   hyperparameters, config defaults (``settings``), class list, the §3.7 parameter
               formula ``paper_n_params`` (N multiplies the whole block; equal to
               ``model.count_params()`` for any hyperparameters, 13,390 at Table 2 with M=6, C=14).
- ``layers``   AuxConcat (§3.6; per-feature rows or the authors' interleaved tile + reshape),
               ConvEmbedding (§3.3), PositionalEncoding (eq. 9 as printed, or Vaswani as in the
               authors' code), MultiHeadSelfAttention (eqs. 5-6, 4(d^2+d) parameters),
               TransformerBlock (eq. 8, post-norm).
- ``losses``   the authors' per-batch flat-weighted log-loss (``t2.loss: batch_flat``).
- ``model``    ``build_t2`` (Fig. 6 as a functional model; inputs ``lightcurve`` (L, M) and, for
               variant t2, ``aux`` = (z, z_err)), ``compile_t2`` / ``build_and_compile`` (Adam with
               optional clipnorm, the configured loss).
- ``scaling``  input and aux scalings fitted on the training objects.
- ``ablation`` the paper-vs-code ablation stage (``make ablation-t2``); ``ablation_figures`` its plot.
- ``cam``      class activation maps (eq. 11) and the redshift share of §5.3 / Fig. 12.
- ``data``     data loading and checks; ``training`` training with eq. 13 monitoring (§4.4) and the
               authors' callbacks; ``tuning`` the CV TPE objective and workers (§4.5).
- ``evaluate`` metrics, predictions, CAMs and parameter-count rows of a trained model.
- ``sdss``     t2 on the SDSS-II light curves with ConvEntion's objects, folds and protocol (a new
               comparison; ``workflow/rules/t2_sdss.smk``).

Variants: ``t2`` (redshift and its error concatenated along L, L' = L + 2, or along M with
``t2.concat: M``) and ``t2_noz`` (light curves only).
"""
