"""Benchmark the GP stage: objects/s (one core, single-threaded BLAS) on N light curves.

    python -m transientrepro.bench.gp                    # 200 synthetic WFD-like objects
    python -m transientrepro.bench.gp -n 300 --n-obs 300 # denser light curves (DDF-like)
    python -m transientrepro.bench.gp --ingest results/plasticc/ingest --chunk 0 -n 200

Synthetic objects: a Bazin-shaped transient (random peak, rise/fall times, colour) observed at
``--n-obs`` random epochs over ~3 years in random passbands with Gaussian noise, so the count
matches ``--n-obs`` exactly; deterministic by ``--seed``. With ``--ingest`` the first N objects of
the stage's selection (split == test, class 99 removed) of one ingest chunk are used instead.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
import pandas as pd

from transientrepro import gp


def synthetic_lightcurves(n: int, n_obs: int = 120, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        mjd = np.sort(rng.uniform(59580.0, 59580.0 + 1000.0, n_obs))
        pb = rng.integers(0, 6, n_obs)
        t0 = rng.uniform(59650.0, 60500.0)
        amp = rng.lognormal(np.log(200.0), 1.0)
        rise, fall = rng.uniform(2, 10), rng.uniform(15, 80)
        colour = np.exp(-0.3 * (pb - rng.uniform(1, 4)) ** 2)
        dt = mjd - t0
        model = amp * colour * np.exp(-dt / fall) / (1 + np.exp(-dt / rise))
        err = rng.uniform(5.0, 20.0, n_obs)
        flux = model + err * rng.standard_normal(n_obs)
        rows.append(pd.DataFrame({"object_id": i, "mjd": mjd, "passband": pb, "flux": flux, "flux_err": err,
                                  "detected_bool": (np.abs(flux) > 5 * err).astype(np.int8)}))
    lc = pd.concat(rows, ignore_index=True)
    meta = pd.DataFrame({"object_id": np.arange(n), "hostgal_photoz": 0.3, "hostgal_photoz_err": 0.05, "target": 90})
    return lc, meta


def ingest_lightcurves(ingest_dir: str, chunk: int, n: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    meta = gp.read_metadata(f"{ingest_dir}/metadata.parquet", chunk=chunk).sort_values("object_id").head(n)
    lc = pd.read_parquet(f"{ingest_dir}/lightcurves_{chunk}.parquet",
                         filters=[("object_id", "in", meta["object_id"].tolist())])
    return lc, meta


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=200, help="objects (default 200)")
    ap.add_argument("--n-obs", type=int, default=120, help="observations per synthetic object (default 120)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--n-points", type=int, default=100, help="L, grid samples per passband")
    ap.add_argument("--ingest", default=None, help="ingest directory (metadata.parquet, lightcurves_{chunk}.parquet)")
    ap.add_argument("--chunk", type=int, default=0)
    args = ap.parse_args(argv)

    if args.ingest:
        lc, meta = ingest_lightcurves(args.ingest, args.chunk, args.n)
        source = f"{args.ingest} chunk {args.chunk}"
    else:
        lc, meta = synthetic_lightcurves(args.n, args.n_obs, args.seed)
        source = "synthetic"
    cfg = gp.GPConfig(n_points=args.n_points)
    with gp.single_threaded_blas():  # imports george/scipy outside the timed region
        pass
    t, c = time.perf_counter(), time.process_time()
    _, fails, summary = gp.interpolate_lightcurves(lc, meta, cfg, progress=False)
    wall, cpu = time.perf_counter() - t, time.process_time() - c
    n = len(meta)
    obs = len(lc) / max(n, 1)
    try:
        load = os.getloadavg()[0]
    except OSError:  # pragma: no cover
        load = float("nan")
    result = {"objects": n, "mean_obs_per_object": obs, "seconds": wall, "cpu_seconds": cpu,
              "objects_per_s": n / wall, "objects_per_cpu_s": n / cpu if cpu > 0 else float("nan"),
              "ms_per_object": 1000 * wall / n, "n_failed": summary["n_failed"], "source": source,
              "load_average_1min": load, "cpus": os.cpu_count()}
    print(f"GP (george 2-D Matern-3/2, L={cfg.n_points}x6) on {n} objects ({source}, mean {obs:.0f} obs/object): "
          f"{n / wall:.1f} objects/s wall, {1000 * wall / n:.1f} ms/object, one process; "
          f"{n / cpu:.1f} objects per CPU-second; load average {load:.1f} on {os.cpu_count()} cores; "
          f"{summary['n_failed']} failures", file=sys.stdout)
    return result


if __name__ == "__main__":
    main()
