"""transientrepro: reproduce t2 (Allam & McEwen) and ConvEntion (Bairouk et al. 2023).

All logic of the Snakemake workflow lives here; this package never imports snakemake.
Sub-packages:
  plasticc    light-curve simulator (Zenodo 2539456 layout), loaders, ingest, reference classifier
  sdss        SDSS-II-like image-stamp simulator, FITS I/O, catalog, loaders
  gp          2-D Gaussian-process interpolation with george (t2 §3.2.1)
  t2          the time-series transformer in TensorFlow/Keras (layers, model, CAMs, training)
  convention  ConvEntion in PyTorch (band separation, 3-D CNN, convolutional BERT, protocol)
  baselines   SuperNNova-style LSTM, CNN+GRU, CNN+LSTM (PyTorch)
  metrics     flat-weighted log-loss (t2 eq. 13), AUCs, confusion matrices, F1
  tuning      optuna TPE with a persistent JournalStorage shared by parallel workers
  download    Zenodo/SDSS downloads with checksums and atomic writes
  report      paper numbers beside reproduced ones
"""

__version__ = "0.1.0"
