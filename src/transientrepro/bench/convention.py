"""Throughput benchmark of the ConvEntion network on synthetic batches.

    python -m transientrepro.bench.convention                 # paper settings, batch 8, CPU
    python -m transientrepro.bench.convention --batch 128 --device cuda --steps 10
    python -m transientrepro.bench.convention --config config/config.yaml   # the config's sizes

Reports parameters, seconds per training step (forward + backward + Adam), samples/s, peak GPU
memory and the implied time of the paper protocol (pre-train + 5 folds x 3 ensembles x 100 epochs
on Table 5's partition sizes) as JSON on stdout.
"""
from __future__ import annotations

import argparse
import json
import time

import torch
import torch.nn.functional as F

from ..convention.model import ConvEntion, ModelConfig, n_params
from ..paper import paper_numbers


def benchmark(cfg: ModelConfig, M: int, stamp: int, n_classes: int, batch: int, steps: int, device: str,
              threads: int | None = None) -> dict:
    if threads:
        torch.set_num_threads(threads)
    dev = torch.device(device)
    torch.manual_seed(0)
    model = ConvEntion(cfg, n_classes, stamp, M).to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.randn(batch, M, stamp, stamp, device=dev)
    band = torch.randint(1, 6, (batch, M), device=dev)
    mask = torch.ones(batch, M, dtype=torch.bool, device=dev)
    y = torch.randint(0, n_classes, (batch,), device=dev)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(x, band, mask), y).backward()
        opt.step()

    step()  # warm-up
    if dev.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    if dev.type == "cuda":
        torch.cuda.synchronize()
    sec = (time.perf_counter() - t0) / steps
    parts = paper_numbers()["convention"]["partitions"]
    parts = {k: v for k, v in parts.items() if isinstance(v, dict)}
    n_train = sum(v["Train"] for v in parts.values())
    n_spec = sum(v["FineTune"] + v["Test"] for v in parts.values())
    arch = paper_numbers()["convention"]["architecture"]
    samples = arch["epochs"] * (n_train + arch["n_folds"] * arch["n_ensembles"] * n_spec * (arch["n_folds"] - 1) / arch["n_folds"])
    return {
        "device": str(dev), "threads": torch.get_num_threads(), "n_params": n_params(model), "M": M, "stamp": stamp,
        "batch": batch, "seconds_per_step": sec, "samples_per_second": batch / sec,
        "peak_gpu_memory_gb": torch.cuda.max_memory_allocated() / 2 ** 30 if dev.type == "cuda" else None,
        "paper_protocol_training_samples": samples,
        "paper_protocol_hours_estimate": samples / (batch / sec) / 3600,
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", help="a workflow config file; its convention section sets the sizes (default: paper)")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--stamp", type=int, default=32)
    ap.add_argument("--classes", type=int, default=4)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--threads", type=int, default=None)
    a = ap.parse_args(argv)
    if a.config:
        import yaml

        with open(a.config) as fh:
            sec = yaml.safe_load(fh)["convention"]
        cfg, M = ModelConfig.from_mapping(sec.get("model")), int(sec.get("M", 99))
    else:
        cfg, M = ModelConfig(), int(paper_numbers()["convention"]["architecture"]["M"])
    print(json.dumps(benchmark(cfg, M, a.stamp, a.classes, a.batch, a.steps, a.device, a.threads), indent=2))


if __name__ == "__main__":
    main()
