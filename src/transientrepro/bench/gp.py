"""Benchmark the GP stage's engines on the same objects: george vs batched (CPU, and GPU if present).

    python -m transientrepro.bench.gp                      # 500 objects at 120 and at 300 points
    python -m transientrepro.bench.gp --sizes 300 -n 100   # one size, fewer objects
    python -m transientrepro.bench.gp --gpu-n 20000        # + the GPU on 20,000 more objects per size
    python -m transientrepro.bench.gp --ingest results/plasticc/ingest --chunk 0 -n 200
    python -m transientrepro.bench.gp --engines batched --device cuda --gpu-n 50000   # GPU only

For each size both engines fit the same objects through the stage's own code
(``gp.interpolate_lightcurves``: validation, fit, grid, prediction, normalisation), one process,
single-threaded BLAS, in alternating blocks so that a change of machine load hits both alike. Speed
is objects per CPU-second of this process (``time.process_time``: insensitive to other jobs' wall
time); the 1-minute load average is printed beside it. Agreement: the batched NLL minus george's
(never worse by > 1e-3 is the requirement) and the largest |mean difference| over the L x P grid
relative to the object's peak (max |george mean|); objects differing by > 1e-3 in NLL or > 1 % of peak
are listed with both fits. Paper scale: 3.5 M objects at this size, in core-hours (or GPU-hours).

Synthetic objects: a Bazin-shaped transient (random peak, rise/fall times, colour) observed at
exactly ``size`` random epochs over ~3 years in random passbands with Gaussian noise; deterministic
by ``--seed``. With ``--ingest`` the first N objects of the stage's selection of one ingest chunk
are used instead (one "size": their own).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np
import pandas as pd

from transientrepro import gp

PAPER_OBJECTS = 3.5e6  # PLAsTiCC objects (t2 §3.1)
NLL_TOL = 1e-3
MEAN_TOL = 0.01


def synthetic_lightcurves(n: int, n_obs: int = 120, seed: int = 0, first_id: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
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
        rows.append(pd.DataFrame({"object_id": first_id + i, "mjd": mjd, "passband": pb, "flux": flux,
                                  "flux_err": err, "detected_bool": (np.abs(flux) > 5 * err).astype(np.int8)}))
    lc = pd.concat(rows, ignore_index=True)
    meta = pd.DataFrame({"object_id": first_id + np.arange(n), "hostgal_photoz": 0.3, "hostgal_photoz_err": 0.05,
                         "target": 90})
    return lc, meta


def ingest_lightcurves(ingest_dir: str, chunk: int, n: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    meta = gp.read_metadata(f"{ingest_dir}/metadata.parquet", chunk=chunk).sort_values("object_id").head(n)
    lc = pd.read_parquet(f"{ingest_dir}/lightcurves_{chunk}.parquet",
                         filters=[("object_id", "in", meta["object_id"].tolist())])
    return lc, meta


def _load() -> float:
    try:
        return os.getloadavg()[0]
    except OSError:  # pragma: no cover
        return float("nan")


def _run(lc, meta, cfg) -> tuple[dict, float, float]:
    """(arrays, CPU seconds, wall seconds) of the stage on these objects."""
    c, t = time.process_time(), time.perf_counter()
    arrays, _, _ = gp.interpolate_lightcurves(lc, meta, cfg, progress=False)
    return arrays, time.process_time() - c, time.perf_counter() - t


def _concat(parts: list[dict]) -> dict:
    return {k: np.concatenate([p[k] for p in parts]) for k in ("object_id", "X", "flux_scale", "amp", "t_scale",
                                                                "log_likelihood", "success")}


def compare(ref: dict, got: dict) -> pd.DataFrame:
    """Per object: both fits, the NLL excess of ``got`` over ``ref`` and the mean difference / peak."""
    common, ir, ig = np.intersect1d(ref["object_id"], got["object_id"], return_indices=True)
    mr = ref["X"][ir] * ref["flux_scale"][ir, None, None]
    mg = got["X"][ig] * got["flux_scale"][ig, None, None]
    peak = np.abs(mr).max(axis=(1, 2))
    return pd.DataFrame({
        "object_id": common,
        "nll_excess": ref["log_likelihood"][ir] - got["log_likelihood"][ig],  # > 0: got is worse
        "mean_diff_over_peak": np.abs(mg - mr).max(axis=(1, 2)) / np.where(peak > 0, peak, 1.0),
        "george_amp": ref["amp"][ir], "george_t_scale": ref["t_scale"][ir], "george_ll": ref["log_likelihood"][ir],
        "batched_amp": got["amp"][ig], "batched_t_scale": got["t_scale"][ig], "batched_ll": got["log_likelihood"][ig],
    })


def bench_size(lc, meta, n_points: int, engines: list[str], block: int, device: str) -> dict:
    """Both engines on the same objects, in alternating blocks; returns figures and the comparison."""
    ids = meta["object_id"].to_numpy()
    cpu = {e: 0.0 for e in engines}
    wall = {e: 0.0 for e in engines}
    parts: dict[str, list] = {e: [] for e in engines}
    loads = [_load()]
    cfgs = {"george": gp.GPConfig(n_points=n_points),
            "batched": gp.GPConfig(n_points=n_points, engine="batched", device=device)}
    for k, start in enumerate(range(0, len(ids), block)):
        m = meta.iloc[start:start + block]
        sub = lc[lc["object_id"].isin(m["object_id"])]
        for e in (engines if k % 2 == 0 else engines[::-1]):
            arrays, c, w = _run(sub, m, cfgs[e])
            cpu[e] += c
            wall[e] += w
            parts[e].append(arrays)
        loads.append(_load())
    out = {"objects": len(ids), "mean_obs_per_object": len(lc) / max(len(ids), 1), "load_average_1min": loads,
           "engines": {}}
    for e in engines:
        out["engines"][e] = {"cpu_seconds": cpu[e], "wall_seconds": wall[e],
                             "objects_per_cpu_s": len(ids) / cpu[e] if cpu[e] > 0 else float("nan"),
                             "objects_per_wall_s": len(ids) / wall[e] if wall[e] > 0 else float("nan")}
    results = {e: _concat(parts[e]) for e in engines}
    out["_results"] = results
    if "george" in engines and "batched" in engines:
        out["ratio"] = out["engines"]["batched"]["objects_per_cpu_s"] / out["engines"]["george"]["objects_per_cpu_s"]
        out["comparison"] = compare(results["george"], results["batched"])
    return out


def bench_gpu(lc, meta, n_points: int, ref: dict | None) -> dict:
    """The batched engine on the GPU: objects per second (wall; results back on the host)."""
    import torch

    cfg = gp.GPConfig(n_points=n_points, engine="batched", device="cuda")
    _run(lc.iloc[:0], meta.iloc[:0], cfg)  # CUDA context outside the timing
    torch.cuda.synchronize()
    arrays, c, w = _run(lc, meta, cfg)
    out = {"objects": len(meta), "wall_seconds": w, "host_cpu_seconds": c, "objects_per_s": len(meta) / w,
           "device_name": torch.cuda.get_device_name(0)}
    if ref is not None:
        out["comparison"] = compare(ref, arrays)
    return out


def _agreement_lines(cmp: pd.DataFrame, label: str) -> list[str]:
    worse = cmp["nll_excess"] > NLL_TOL
    off = cmp["mean_diff_over_peak"] > MEAN_TOL
    lines = [f"  agreement ({label}, {len(cmp)} objects): NLL(batched) - NLL(george) max {cmp['nll_excess'].max():+.2e}, "
             f"min {cmp['nll_excess'].min():+.2e}; worse by > {NLL_TOL:g}: {int(worse.sum())}; max |mean diff| / peak "
             f"{cmp['mean_diff_over_peak'].max():.2e}, median {cmp['mean_diff_over_peak'].median():.1e}; "
             f"> {MEAN_TOL:.0%} of peak: {int(off.sum())} ({off.mean():.2%})"]
    bad = cmp[worse | off]
    for r in bad.head(10).itertuples(index=False):
        lines.append(f"    object {r.object_id}: george amp {r.george_amp:.4g} t_scale {r.george_t_scale:.4g} "
                     f"ll {r.george_ll:.4f} | batched amp {r.batched_amp:.4g} t_scale {r.batched_t_scale:.4g} "
                     f"ll {r.batched_ll:.4f} | mean diff {r.mean_diff_over_peak:.2%} of peak")
    if len(bad) > 10:
        lines.append(f"    ... and {len(bad) - 10} more")
    return lines


def _hours(objects_per_s: float) -> float:
    return PAPER_OBJECTS / objects_per_s / 3600.0


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=500, help="objects per size for the CPU comparison (default 500)")
    ap.add_argument("--sizes", type=int, nargs="+", default=[120, 300], help="observations per object")
    ap.add_argument("--engines", nargs="+", default=["george", "batched"], choices=["george", "batched"])
    ap.add_argument("--device", default="cpu", help="device of the batched engine's CPU run (cpu or torch-cpu)")
    ap.add_argument("--gpu-n", type=int, default=0,
                    help="also time the batched engine on the GPU on this many more objects per size (if CUDA)")
    ap.add_argument("--block", type=int, default=50, help="objects per alternating block (default 50)")
    ap.add_argument("--batch-elements", type=int, default=None,
                    help="batched engine: matrix elements (objects x n x n) per batch (default: by device)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--n-points", type=int, default=100, help="L, grid samples per passband")
    ap.add_argument("--ingest", default=None, help="ingest directory (metadata.parquet, lightcurves_{chunk}.parquet)")
    ap.add_argument("--chunk", type=int, default=0)
    ap.add_argument("--json", default=None, help="also write the figures (and every object's comparison) here")
    args = ap.parse_args(argv)
    if args.batch_elements:
        from transientrepro.gp import batched

        batched.CPU_BATCH_ELEMENTS = batched.GPU_BATCH_ELEMENTS = args.batch_elements

    with gp.single_threaded_blas():  # imports george/scipy outside the timed region
        pass
    cuda = False
    if args.gpu_n or args.device == "cuda":
        try:
            import torch

            cuda = torch.cuda.is_available()
        except ImportError:
            pass
    print(f"GP engines: george (reference) vs batched (gp.engine: batched); kernel 2-D Matern-3/2, L={args.n_points} "
          f"x 6 grid; one process, single-threaded BLAS; {os.cpu_count()} cores; GPU: "
          f"{'yes' if cuda else 'none'}", flush=True)
    report: dict = {"sizes": {}, "cpus": os.cpu_count()}
    sizes = [None] if args.ingest else args.sizes
    for size in sizes:
        if args.ingest:
            lc, meta = ingest_lightcurves(args.ingest, args.chunk, args.n)
            label = f"{args.ingest} chunk {args.chunk}"
        else:
            lc, meta = synthetic_lightcurves(args.n, size, args.seed + (size or 0))
            label = "synthetic"
        engines = [e for e in args.engines if not (e == "batched" and args.device == "cuda")]
        res = bench_size(lc, meta, args.n_points, engines, args.block, args.device) if engines else {}
        obs = len(lc) / max(len(meta), 1)
        key = f"{obs:.0f}"
        lines = [f"== {len(meta)} {label} objects, {obs:.0f} observations per object "
                 f"(load average {min(res.get('load_average_1min', [_load()])):.1f}-"
                 f"{max(res.get('load_average_1min', [_load()])):.1f} on {os.cpu_count()} cores)"]
        for e, r in res.get("engines", {}).items():
            lines.append(f"  {e:8s}: {r['objects_per_cpu_s']:8.1f} objects per CPU-second "
                         f"({1000 / r['objects_per_cpu_s']:.1f} CPU-ms/object); paper scale "
                         f"{_hours(r['objects_per_cpu_s']):.1f} core-hours for 3.5 M objects")
        if "ratio" in res:
            lines.append(f"  batched / george: {res['ratio']:.2f}x per CPU core")
            lines += _agreement_lines(res["comparison"], "CPU")
        if cuda:
            ref = res.get("_results", {}).get("george")
            g = bench_gpu(lc, meta, args.n_points, ref)  # the same objects: agreement with george
            more_lc, more_meta = (synthetic_lightcurves(args.gpu_n, size, args.seed + 7919 + size, first_id=10 ** 7)
                                  if args.gpu_n and not args.ingest else (lc, meta))
            t = bench_gpu(more_lc, more_meta, args.n_points, None)
            res["gpu"] = {"timing": t, "same_objects": {k: v for k, v in g.items() if k != "comparison"}}
            lines.append(f"  batched on {t['device_name']}: {t['objects_per_s']:.0f} objects per second "
                         f"({t['objects']} objects, {t['wall_seconds']:.1f} s wall, host CPU {t['host_cpu_seconds']:.1f} s); "
                         f"paper scale {_hours(t['objects_per_s']):.2f} GPU-hours")
            if "george" in res.get("engines", {}):
                gr = res["engines"]["george"]["objects_per_cpu_s"]
                lines.append(f"  GPU / george: {t['objects_per_s'] / gr:.0f}x one george CPU core")
            if "comparison" in g:
                lines += _agreement_lines(g["comparison"], "GPU vs george")
                res["gpu"]["comparison"] = g["comparison"].to_dict(orient="list")
        print("\n".join(lines), flush=True)
        res.pop("_results", None)
        if "comparison" in res:
            res["comparison"] = res["comparison"].to_dict(orient="list")
        report["sizes"][key] = res
    if args.json:
        from transientrepro.io import write_json

        write_json(report, args.json)
    return report


if __name__ == "__main__":
    main()
