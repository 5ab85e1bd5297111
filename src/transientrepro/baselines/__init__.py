"""Baselines of ConvEntion's Tables 3-4 (PyTorch): a SuperNNova-style LSTM on light curves and the
CNN+GRU (Gómez et al. 2020) / CNN+LSTM (Carrasco-Davis et al. 2019) image-sequence classifiers.

Modules
- ``models``: the networks, parameter counting, paper-setting widths (``PAPER_ARCHITECTURES``).
- ``lightcurves``: epoch grouping -> light-curve tensors and ugriz / g epoch frames.
- ``run``: data adapters onto ConvEntion's data/protocol (``transientrepro.convention``) and
  ``run_baseline`` (one model: pre-train -> k-fold x ensemble fine-tuning -> metrics/outputs).
"""
