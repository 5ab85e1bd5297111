"""Weighted random sampling (WRS) with inverse class frequency (ConvEntion §3.1).

Each sample is weighted by 1 / (number of training samples of its class), so a multinomial draw
with replacement gives class-balanced mini-batches on average; PyTorch's WeightedRandomSampler is
the implementation the paper names. Seeded through a torch.Generator for reproducibility.
"""
from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import WeightedRandomSampler


def inverse_frequency_weights(labels: np.ndarray) -> np.ndarray:
    """Per-sample weight 1 / count(label); raises on negative (excluded) labels."""
    labels = np.asarray(labels, dtype=np.int64)
    if len(labels) == 0:
        raise ValueError("inverse_frequency_weights: no samples")
    if labels.min() < 0:
        raise ValueError(f"inverse_frequency_weights: negative label at row {int(np.argmin(labels))}")
    counts = np.bincount(labels)
    return 1.0 / counts[labels]


def weighted_sampler(labels: np.ndarray, seed: int, num_samples: int | None = None) -> WeightedRandomSampler:
    """WeightedRandomSampler over ``labels`` drawing ``num_samples`` (default len) with replacement."""
    w = inverse_frequency_weights(labels)
    gen = torch.Generator()
    gen.manual_seed(int(seed))
    return WeightedRandomSampler(torch.as_tensor(w, dtype=torch.double), num_samples=num_samples or len(w),
                                 replacement=True, generator=gen)
