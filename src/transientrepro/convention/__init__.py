"""ConvEntion (Bairouk et al. 2023): convolutional transformer for image time series, in PyTorch.

Modules
- ``preprocess``: band separation (§3.1), task labels, band selection, bandwise normalisation,
  crop/pad policy to a fixed length M.
- ``augment``: label/band-preserving augmentations (step drop, rotation, flips, shift/crop).
- ``sampler``: inverse-class-frequency WeightedRandomSampler (§3.1).
- ``data``: ``SequenceData`` (what the protocol consumes) built from the SDSS ingest.
- ``model``: BandEmbed + 3-D CNN (Table 2) + 3-D positional encoding (eq. 4-6) + convolutional
  BERT (§3.3) + 3-D max-pool + MLP classifier.
- ``protocol``: pre-train -> fine-tune, k-fold x ensembles, metrics; generic over the nn.Module.
- ``stages``: the workflow stages (variants, config plumbing, pre-train / fine-tune / tuning runs).
"""
