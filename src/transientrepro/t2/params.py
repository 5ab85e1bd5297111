"""Hyperparameters, class list and the §3.7 parameter-count formula of t2.

Hyperparameters (t2 §3.7, Table 2): ``d`` (embedding width), ``h`` (heads, ``h d_v = d``), ``d_ff``
(feed-forward width), ``N`` (stacked transformer blocks), ``dropout`` and ``learning_rate``.
"""
from __future__ import annotations

from typing import Any, Mapping

from ..paper import paper_numbers

HYPERPARAMETERS = ("d", "h", "d_ff", "N", "dropout", "learning_rate")
VARIANTS = ("t2", "t2_noz")
#: Additional features (§3.6) of the variant ``t2``: redshift and its error (R = 2).
AUX_FEATURES = ("z", "z_err")


#: Training losses (``t2.loss``): the authors' per-batch flat log-loss (astronet ``metrics.py``
#: ``WeightedLogLoss``), cross-entropy with global class weights N / (C N_c), plain cross-entropy.
LOSSES = ("batch_flat", "class_weighted", "unweighted")
#: ``t2.positional_encoding``: Vaswani et al. (the authors' ``transformer.py``) or eq. 9 as printed.
POSITIONAL_ENCODINGS = ("vaswani", "paper_eq9")
#: ``t2.aux_layout`` (concat L): the authors' tile + reshape (each extra row holds z, z_err
#: alternating) or one row per feature (z repeated, then z_err repeated).
AUX_LAYOUTS = ("interleaved", "per_feature")
#: ``t2.aux_scaling``: robust (median/IQR fitted on training objects, the authors' RobustScaler of
#: hostgal_photoz and its error) or none.
AUX_SCALINGS = ("robust", "none")
#: ``t2.validation``: what early stopping and the LR schedule watch -- a stratified hold-out of the
#: training set, or (optimistic, the authors' code) the test set itself.
VALIDATIONS = ("holdout", "test_set_optimistic")


class T2ConfigError(ValueError):
    """A t2 hyperparameter or configuration value is invalid."""


def class_codes_and_names() -> tuple[list[int], list[str]]:
    """The 14 PLAsTiCC class codes (model output order) and their names.

    From ``transientrepro.plasticc.classes`` (CLASS_CODES, CLASS_NAMES) when available, else from
    t2 Table 1 in the paper-numbers file (same codes, ascending).
    """
    try:
        from ..plasticc.classes import CLASS_CODES, CLASS_NAMES  # type: ignore

        codes = [int(c) for c in CLASS_CODES]
        names = CLASS_NAMES
        if isinstance(names, Mapping):
            names = [str(names[c]) for c in codes]
        return codes, [str(n) for n in names]
    except ImportError:
        counts = paper_numbers()["t2"]["class_counts"]
        codes = sorted(int(k) for k in counts if str(k).lstrip("-").isdigit())
        return codes, [str(counts[c][0]) for c in codes]


def table2_hyperparameters() -> dict[str, Any]:
    """t2 Table 2 (from the paper-numbers file)."""
    t = paper_numbers()["t2"]["hyperparameters"]
    return {k: t[k] for k in HYPERPARAMETERS}


def check_hyperparameters(hp: Mapping[str, Any], where: str = "t2.hyperparameters") -> dict[str, Any]:
    """Validate and normalise a hyperparameter dict (ints/floats); raise naming the bad key."""
    missing = [k for k in HYPERPARAMETERS if k not in hp]
    if missing:
        raise T2ConfigError(f"{where}: missing hyperparameter(s) {missing}")
    out: dict[str, Any] = {}
    for k in ("d", "h", "d_ff", "N"):
        v = hp[k]
        if isinstance(v, bool) or int(v) != v or int(v) < 1:
            raise T2ConfigError(f"{where}.{k} must be a positive integer, got {v!r}")
        out[k] = int(v)
    if out["d"] % out["h"] != 0:
        raise T2ConfigError(f"{where}: d={out['d']} must be divisible by h={out['h']} (h*d_v = d, t2 §3.7)")
    if not 0.0 <= float(hp["dropout"]) < 1.0:
        raise T2ConfigError(f"{where}.dropout must be in [0, 1), got {hp['dropout']!r}")
    if not float(hp["learning_rate"]) > 0.0:
        raise T2ConfigError(f"{where}.learning_rate must be > 0, got {hp['learning_rate']!r}")
    out["dropout"] = float(hp["dropout"])
    out["learning_rate"] = float(hp["learning_rate"])
    return out


def divisibility_constraint(params: Mapping[str, Any]) -> str | None:
    """Optuna constraint: a reason string when d is not divisible by h (trial pruned), else None."""
    if "d" in params and "h" in params and int(params["d"]) % int(params["h"]) != 0:
        return f"d={params['d']} not divisible by h={params['h']}"
    return None


def paper_n_params(M: int, C: int, d: int, h: int, d_ff: int, N: int) -> int:
    """Trainable parameters of t2 by the §3.7 formula.

    ``[M*w*d + d]`` (conv embedding, w = 1) ``+ N * (4[(d*d) + d]`` (MHA) ``+ 2*2d`` (2 LayerNorms)
    ``+ (d*d_ff + d_ff) + (d_ff*d + d))`` (FFN) ``+ (d*C + C)`` (final dense).
    ``h`` does not enter (``h d_v = d``). N multiplies the whole block (N stacked blocks, each with
    its own attention, norms and FFN): the printed formula puts ``N x`` in front of the attention
    term only, which cannot describe an N-block model for N > 1; the two readings agree for N = 1
    (Table 2: 13,390 parameters with M = 6, C = 14). With concatenation along M pass ``M' = M + R``.
    """
    for name, v in dict(M=M, C=C, d=d, h=h, d_ff=d_ff, N=N).items():
        if int(v) < 1:
            raise T2ConfigError(f"paper_n_params: {name} must be >= 1, got {v}")
    w = 1
    embedding = M * w * d + d
    block = 4 * (d * d + d) + 2 * 2 * d + (d * d_ff + d_ff) + (d_ff * d + d)
    head = d * C + C
    return int(embedding + N * block + head)


#: Defaults of the ``t2:`` config section (mirrors config/schema.yaml); merged under user values.
#: t2.attention_kernel (see :mod:`.fused`; defined here, where the config is checked, so that checking
#: a config needs no TensorFlow)
KERNEL_CHOICES = ("auto", "fused", "tf")

DEFAULTS: dict[str, Any] = {
    "variants": ["t2", "t2_noz"],
    "tune": True,
    "concat": "L",
    "scaling": "none",
    "hyperparameters": {"d": 32, "h": 16, "d_ff": 128, "N": 1, "dropout": 0.1, "learning_rate": 0.017},
    "epochs": 40,
    "batch_size": 64,
    "validation_fraction": 0.1,
    "early_stopping_patience": 10,
    "early_stopping_monitor": "val_flat_log_loss",
    "lr_reduce_factor": 0.9,
    "lr_reduce_patience": 5,
    "lr_reduce_monitor": "val_loss",
    "lr_reduce_cooldown": 0,
    "early_stopping_min_delta": 0.0,
    "overfit_ratio_stop": None,
    "validation": "holdout",
    "loss": "class_weighted",
    "clipnorm": None,
    "positional_encoding": "paper_eq9",
    "aux_layout": "per_feature",
    "aux_scaling": "none",
    "enqueue_pinned": True,
    "deterministic": True,
    "jit_compile": True,
    "attention_kernel": "auto",
    "gpu": 0,
    "mem_mb": 4000,
    "runtime": 60,
    "cam_max_objects": 0,
    "stream_above_mb": 2048,
    "scaling_fit_max_objects": 20000,
    "tuning": {
        "n_workers": 2,
        "n_trials": 2,
        "n_folds": 5,
        "validation_fraction": 0.1,
        "epochs": 3,
        "batch_size": 64,
        "n_startup_trials": 4,
        "space": {
            "d": {"type": "categorical", "choices": [16, 32, 64]},
            "h": {"type": "categorical", "choices": [1, 2, 4, 8, 16]},
            "d_ff": {"type": "categorical", "choices": [32, 64, 128, 256]},
            "N": {"type": "int", "low": 1, "high": 2},
            "dropout": {"type": "float", "low": 0.0, "high": 0.3},
            "learning_rate": {"type": "float", "low": 1e-4, "high": 3e-2, "log": True},
        },
    },
}


def _merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in (over or {}).items():
        if k == "space":  # a search space is replaced whole, never merged
            out[k] = dict(v)
        elif isinstance(v, Mapping) and isinstance(base.get(k), Mapping):
            out[k] = _merge(base[k], v)
        else:
            out[k] = v
    return out


def settings(t2_config: Mapping[str, Any] | None) -> dict[str, Any]:
    """The ``t2:`` config section with defaults filled in and values checked."""
    s = _merge(DEFAULTS, t2_config or {})
    if not s["tuning"].get("space"):  # an empty space (schema default) means the built-in one
        s["tuning"]["space"] = dict(DEFAULTS["tuning"]["space"])
    if s["concat"] not in ("L", "M"):
        raise T2ConfigError(f"t2.concat must be 'L' or 'M', got {s['concat']!r}")
    if s["scaling"] not in ("dataset_band", "object", "max_abs", "none"):
        raise T2ConfigError(f"t2.scaling must be dataset_band, object, max_abs or none, got {s['scaling']!r}")
    for v in s["variants"]:
        variant_uses_redshift(v)
    choices = {"loss": LOSSES, "positional_encoding": POSITIONAL_ENCODINGS, "aux_layout": AUX_LAYOUTS,
               "aux_scaling": AUX_SCALINGS, "validation": VALIDATIONS}
    for k, allowed in choices.items():
        if s[k] not in allowed:
            raise T2ConfigError(f"t2.{k} must be one of {allowed}, got {s[k]!r}")
    if s["clipnorm"] is not None and not float(s["clipnorm"]) > 0:
        raise T2ConfigError(f"t2.clipnorm must be > 0 or null, got {s['clipnorm']!r}")
    if s["overfit_ratio_stop"] is not None and not float(s["overfit_ratio_stop"]) > 0:
        raise T2ConfigError(f"t2.overfit_ratio_stop must be > 0 or null, got {s['overfit_ratio_stop']!r}")
    for k in ("epochs", "batch_size"):
        if k == "batch_size" and s[k] == "auto":
            continue
        if isinstance(s[k], bool) or not isinstance(s[k], (int, float)) or int(s[k]) < 1:
            raise T2ConfigError(f"t2.{k} must be an integer >= 1{' or auto' if k == 'batch_size' else ''}, got {s[k]!r}")
    if s["attention_kernel"] not in KERNEL_CHOICES:
        raise T2ConfigError(f"t2.attention_kernel must be one of {KERNEL_CHOICES}, got {s['attention_kernel']!r}")
    if not isinstance(s["jit_compile"], bool):
        raise T2ConfigError(f"t2.jit_compile must be true or false, got {s['jit_compile']!r}")
    if float(s["stream_above_mb"]) < 0 or int(s["scaling_fit_max_objects"]) < 1:
        raise T2ConfigError(f"t2.stream_above_mb must be >= 0 and t2.scaling_fit_max_objects >= 1, got "
                            f"{s['stream_above_mb']!r}, {s['scaling_fit_max_objects']!r}")
    if not 0.0 < float(s["validation_fraction"]) < 1.0:
        raise T2ConfigError(f"t2.validation_fraction must be in (0, 1), got {s['validation_fraction']!r}")
    t = s["tuning"]
    if int(t["n_folds"]) < 2:
        raise T2ConfigError(f"t2.tuning.n_folds must be >= 2, got {t['n_folds']!r}")
    if not 0.0 < float(t["validation_fraction"]) <= 1.0:
        raise T2ConfigError(f"t2.tuning.validation_fraction must be in (0, 1], got {t['validation_fraction']!r}")
    s["hyperparameters"] = check_hyperparameters(s["hyperparameters"])
    return s


def authors_batch_size(n_train: int) -> int:
    """The authors' ``find_optimal_batch_size`` (astronet ``utils.py`` at 2378a42, lines 78-97),
    including its quirk: candidates 16/32/64 below 10,000 objects, else 96/128/256; the ratio
    batch / (n mod batch) closest to 1 wins (a candidate dividing n exactly is skipped, which
    shifts the index onto the next candidate, as in the original)."""
    sizes = [16, 32, 64] if n_train < 10000 else [96, 128, 256]
    ratios = [b / (n_train % b) for b in sizes if n_train % b]
    if not ratios:
        return sizes[0]
    index = min(range(len(ratios)), key=lambda i: abs(ratios[i] - 1))
    return sizes[index]


def resolve_batch_size(batch_size: Any, n_train: int) -> int:
    return authors_batch_size(n_train) if batch_size == "auto" else int(batch_size)


def variant_uses_redshift(variant: str) -> bool:
    if variant not in VARIANTS:
        raise T2ConfigError(f"unknown t2 variant {variant!r}; expected one of {VARIANTS}")
    return variant == "t2"
