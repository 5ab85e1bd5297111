"""Scale benchmark: wall time and peak memory of each job as the data grow (``make bench-scale``).

    python -m transientrepro.bench.scale                                   # defaults below
    python -m transientrepro.bench.scale --plasticc 10000 30000 --sdss 400 --cores 2
    python -m transientrepro.bench.scale --report-only                     # redo table + figure

It runs the real workflow (the same Snakefile, rules and package code as ``make run``) on simulated
data of growing size, each size in its own scratch directory under ``--work``:

* PLAsTiCC-like: ``ingest_plasticc -> gp_gather -> split -> t2_train`` (one epoch, pinned
  hyperparameters, variant t2) for ``--plasticc`` test-set sizes.  The number of ingest/GP chunks
  grows with the data so that each chunk holds about ``--objects-per-chunk`` objects (the paper
  config: 3.5 M / 400 chunks ~ 8,750).  Two shortcuts keep this within an hour on a small shared
  machine, both stated in the output: (1) the raw files of each size are the workflow's own
  simulation of ``--base`` test objects (``simulate_plasticc``, run once) replicated with new object
  ids, so the per-object statistics are those of the simulator; (2) the GP is *sampled*: the real
  ``gp_chunk`` job runs once on the ``--base`` objects (its wall time, CPU time and peak memory are
  measured), and each size's chunk outputs are that result replicated onto the size's objects, so
  ``gp_gather``, ``split`` and ``t2_train`` read GP outputs of the true size.  The GP row of each
  size is the base measurement scaled linearly in objects (the chunks are independent jobs of
  fixed size, so the total is linear and the per-job peak is that of one chunk).
* SDSS-like: ``sdss_simulate -> sdss_ingest`` for ``--sdss`` object counts (cadence of
  config/config.yaml, ~110 stamps per object).

Each job's wall time and peak memory are Snakemake's own ``benchmark:`` records (``max_rss`` of the
job's process tree), so they are what a scheduler sees.  Chunked stages report the largest job
(peak memory) and the sum over jobs (CPU time).  The table (CSV + markdown), a log-log figure and a
power-law extrapolation to paper scale (3.5 M PLAsTiCC objects; 4 x 10^6 SDSS stamps, i.e. ~10^4
objects x ~400 stamps) are written to ``--out``.  The extrapolation fits ``y = a * n^b`` through the
measured sizes of each stage for time, and ``y = a + b * n`` (a fixed part plus a part per object or
stamp) for peak memory, so it is only as good as the range measured: read it as an order of magnitude.  Nothing here is a test; nothing asserts.
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[3]
PAPER_PLASTICC = 3_500_000  # t2: the unblinded PLAsTiCC test set, ~3.5 M objects
PAPER_SDSS_STAMPS = 4_000_000  # config/paper.yaml: ~4 M 32x32 stamps (~10^4 objects x ~400 stamps)

# stage -> (benchmark file glob relative to benchmarks/, how jobs combine)
PLASTICC_STAGES = {
    "ingest_plasticc": "plasticc_data/ingest_plasticc.tsv",
    "gp_chunk (sampled)": "gp/chunk_*.tsv",
    "gp_gather": "gp/gather.tsv",
    "split": "gp/split.tsv",
    "t2_train (1 epoch)": "t2/train_t2.tsv",
}
SDSS_STAGES = {
    "sdss_simulate": "sdss_data/simulate.tsv",
    "sdss_ingest": "sdss_data/ingest.tsv",
}


def plasticc_config(n_test: int, objects_per_chunk: int) -> dict:
    n_chunks = max(2, round(n_test / objects_per_chunk))
    return {
        "run_name": f"scale_plasticc_{n_test}",
        "plasticc": {"simulate": {"n_train": 300, "n_test": int(n_test), "n_test_files": 2},
                     "ingest": {"n_chunks": int(n_chunks)}},
        # stream_above_mb 0: the splits are streamed from gp.h5 as at paper scale (config/paper.yaml)
        "t2": {"variants": ["t2"], "tune": False, "epochs": 1, "batch_size": 256, "mem_mb": 16000, "stream_above_mb": 0},
        "gp": {"chunk_mem_mb": 4000},
    }


def sdss_config(n_objects: int) -> dict:
    return {"run_name": f"scale_sdss_{n_objects}", "sdss": {"simulate": {"n_objects": int(n_objects)},
                                                             "ingest": {"mem_mb": 16000}}}


def _prepare(workdir: Path, cfg: dict) -> Path:
    workdir.mkdir(parents=True, exist_ok=True)
    for name in ("data", "config"):  # relative inputs of the rules resolve against the working directory
        link = workdir / name
        if not link.exists():
            link.symlink_to(REPO / name)
    path = workdir / "scale.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def run_workflow(workdir: Path, cfg: dict, targets: list[str], cores: int, timeout: int,
                 log_name: str = "snakemake.log") -> tuple[int, float]:
    """Run Snakemake on ``targets``; return (exit status, wall seconds)."""
    cfg_path = _prepare(workdir, cfg)
    exe = Path(sys.executable).parent / "snakemake"
    cmd = [str(exe) if exe.exists() else sys.executable, *([] if exe.exists() else ["-m", "snakemake"]),
           *targets, "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
           "--configfile", str(REPO / "config" / "config.yaml"), str(cfg_path), "--cores", str(cores),
           "--rerun-incomplete", "--rerun-triggers", "mtime", "--nolock", "--quiet", "rules"]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONHASHSEED="0",
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    t0 = time.monotonic()
    with open(workdir / log_name, "w") as log:
        try:
            rc = subprocess.run(cmd, cwd=workdir, stdout=log, stderr=subprocess.STDOUT, env=env,
                                timeout=timeout).returncode
        except subprocess.TimeoutExpired:
            rc = 124
    return rc, time.monotonic() - t0


def read_benchmarks(workdir: Path, pattern: str) -> list[dict]:
    rows = []
    for path in sorted((workdir / "benchmarks").glob(pattern)):
        with open(path) as f:
            for row in csv.DictReader(f, delimiter="\t"):
                rows.append({"s": float(row["s"]), "max_rss": _num(row.get("max_rss")),
                             "cpu_time": _num(row.get("cpu_time"))})
    return rows


def _num(v) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return float("nan")


def stage_rows(workdir: Path, stages: dict[str, str], dataset: str, size: int, extra: dict) -> list[dict]:
    out = []
    for stage, pattern in stages.items():
        jobs = read_benchmarks(workdir, pattern)
        if not jobs:
            continue
        out.append({"dataset": dataset, "size": size, "stage": stage, "jobs": len(jobs),
                    "wall_s_max_job": round(max(j["s"] for j in jobs), 2),
                    "wall_s_sum": round(sum(j["s"] for j in jobs), 2),
                    "cpu_s_sum": round(sum(j["cpu_time"] for j in jobs), 2),
                    "peak_rss_mb": round(max(j["max_rss"] for j in jobs), 1), **extra})
    return out


def sdss_n_stamps(workdir: Path) -> int | None:
    p = workdir / "results" / "sdss" / "ingest" / "ingest_summary.json"
    return int(json.loads(p.read_text())["n_images"]) if p.exists() else None


# --- PLAsTiCC: one real simulation + GP of the base set, replicated to each size ---------------------
OFFSET = 10**9  # replica k of base object i gets object_id i + k * OFFSET (PLAsTiCC ids are < 1.4e8)


def replicate_raw(base_res: Path, out_res: Path, n_test: int) -> dict:
    """Write the Zenodo-layout raw files of ``n_test`` test objects: the base simulation's test objects
    replicated with shifted object ids (train files copied unchanged)."""
    import gzip

    import pandas as pd

    out_res.mkdir(parents=True, exist_ok=True)
    for name in ("plasticc_train_lightcurves.csv.gz", "plasticc_train_metadata.csv.gz"):
        shutil.copyfile(base_res / name, out_res / name)
    meta = pd.read_csv(base_res / "plasticc_test_metadata.csv.gz")
    n_base = len(meta)
    reps = math.ceil(n_test / n_base)
    tiles = []
    for k in range(reps):
        m = meta.copy()
        m["object_id"] = m["object_id"].astype("int64") + k * OFFSET
        tiles.append(m)
    big = pd.concat(tiles, ignore_index=True).iloc[:n_test]
    keep = set(big["object_id"].tolist())
    big.to_csv(out_res / "plasticc_test_metadata.csv.gz", index=False)
    rows = 0
    for lc_path in sorted(base_res.glob("plasticc_test_lightcurves_*.csv.gz")):
        base_lc = pd.read_csv(lc_path)
        with gzip.open(out_res / lc_path.name, "wt", compresslevel=1) as f:
            for k in range(reps):
                lc = base_lc.assign(object_id=base_lc["object_id"].astype("int64") + k * OFFSET)
                lc = lc[lc["object_id"].isin(keep)]
                lc.to_csv(f, index=False, header=(k == 0))
                rows += len(lc)
    return {"n_test": int(len(big)), "replicas": reps, "n_base": n_base, "test_rows": rows}


def fabricate_gp_chunks(workdir: Path, base_gp: Path, n_chunks: int) -> None:
    """Each chunk's GP outputs for this size, from the base run's real GP of the replicated objects."""
    import numpy as np
    import pandas as pd

    from transientrepro.gp import read_metadata
    from transientrepro.io import load_npz, read_json, save_npz, write_csv, write_json

    base = load_npz(base_gp / "chunk_0.npz")
    base_fail = pd.read_csv(base_gp / "failures_0.csv", dtype={"object_id": "int64"})
    base_sum = read_json(base_gp / "summary_0.json")
    base_ids = base["object_id"].astype(np.int64)
    order = np.argsort(base_ids)
    meta = read_metadata(workdir / "results/plasticc/ingest/metadata.parquet")
    per_obj = [k for k in base if not k.startswith("attr_")]
    gp_dir = workdir / "results/plasticc/gp"
    for c in range(n_chunks):
        ids = np.sort(meta.loc[meta["chunk"] == c, "object_id"].to_numpy(np.int64))
        src = ids % OFFSET
        pos = np.searchsorted(base_ids[order], src)
        pos = np.clip(pos, 0, len(base_ids) - 1)
        found = base_ids[order][pos] == src
        rows = order[pos[found]]
        arrays = {k: (base[k] if k.startswith("attr_") else base[k][rows]) for k in base}
        arrays["object_id"] = ids[found].astype(base["object_id"].dtype)
        fails = base_fail.merge(pd.DataFrame({"object_id": src, "new_id": ids}), on="object_id")
        fails = fails.assign(object_id=fails.pop("new_id"))
        n_in, scale = len(ids), len(ids) / max(int(base_sum["n_input"]), 1)
        summary = dict(base_sum, chunk=c, n_input=int(n_in), n_objects=int(found.sum()), n_failed=int(len(fails)),
                       n_excluded=int((fails["action"] == "excluded").sum()),
                       n_fallback=int((fails["action"] != "excluded").sum()),
                       seconds=float(base_sum["seconds"]) * scale,
                       cpu_seconds=float(base_sum.get("cpu_seconds", float("nan"))) * scale,
                       note="scale benchmark: base GP replicated onto this chunk's objects (not fitted)")
        save_npz(gp_dir / f"chunk_{c}.npz", **arrays)
        write_csv(fails[list(base_fail.columns)], gp_dir / f"failures_{c}.csv")
        write_json(summary, gp_dir / f"summary_{c}.json")
        assert set(per_obj) <= set(arrays)


def run_plasticc_base(work: Path, n_base: int, cores: int, timeout: int) -> tuple[Path, dict]:
    """The real simulation + ingest + GP (one chunk) of ``n_base`` test objects."""
    workdir = work / f"plasticc_base_{n_base}"
    if (workdir / "results/plasticc/gp/summary_0.json").exists():
        return workdir, {"reused": True}
    cfg = {"run_name": "scale_base", "plasticc": {"simulate": {"n_train": 300, "n_test": int(n_base),
                                                               "n_test_files": 2}, "ingest": {"n_chunks": 1}}}
    print(f"== base: simulate + ingest + GP of {n_base:,} test objects in {workdir}", flush=True)
    rc, wall = run_workflow(workdir, cfg, ["results/plasticc/gp/chunk_0.npz"], cores, timeout)
    if rc != 0:
        raise RuntimeError(f"base run failed (exit {rc}); see {workdir / 'snakemake.log'}")
    return workdir, {"wall_s": wall}


def run_plasticc_size(work: Path, base_dir: Path, n: int, objects_per_chunk: int, cores: int,
                      timeout: int) -> tuple[int, Path, dict]:
    workdir = work / f"plasticc_{n}"
    if workdir.exists():
        shutil.rmtree(workdir)
    cfg = plasticc_config(n, objects_per_chunk)
    n_chunks = cfg["plasticc"]["ingest"]["n_chunks"]
    _prepare(workdir, cfg)
    t0 = time.monotonic()
    info = replicate_raw(base_dir / "resources/plasticc", workdir / "resources/plasticc", n)
    info["replicate_s"] = round(time.monotonic() - t0, 1)
    rc, _ = run_workflow(workdir, cfg, ["results/plasticc/ingest/report.json"], cores, timeout, "snakemake_ingest.log")
    if rc != 0:
        return rc, workdir, info
    fabricate_gp_chunks(workdir, base_dir / "results/plasticc/gp", n_chunks)
    rc, _ = run_workflow(workdir, cfg, ["results/plasticc/split.parquet", "results/plasticc/t2/model.keras"],
                         cores, timeout)
    return rc, workdir, dict(info, n_chunks=n_chunks)


def gp_sampled_row(base_dir: Path, n_base: int, n: int, n_chunks: int) -> dict | None:
    jobs = read_benchmarks(base_dir, "gp/chunk_0.tsv")
    if not jobs:
        return None
    j = jobs[0]
    scale = n / n_base
    return {"dataset": "plasticc", "size": n, "stage": "gp_chunk (sampled)", "jobs": n_chunks,
            "wall_s_max_job": round(j["s"] * n / n_chunks / n_base, 2),
            "wall_s_sum": round(j["s"] * scale, 2), "cpu_s_sum": round(j["cpu_time"] * scale, 2),
            "peak_rss_mb": round(j["max_rss"], 1), "x_name": "objects", "x": n,
            "note": f"measured on one real chunk of {n_base} objects, scaled linearly"}


def fit_power_law(xs: list[float], ys: list[float]) -> tuple[float, float] | None:
    """Least-squares fit of log y = log a + b log x; None with fewer than two usable points."""
    pts = [(math.log(x), math.log(y)) for x, y in zip(xs, ys) if x > 0 and y > 0 and math.isfinite(y)]
    if len(pts) < 2:
        return None
    mx = sum(p[0] for p in pts) / len(pts)
    my = sum(p[1] for p in pts) / len(pts)
    sxx = sum((p[0] - mx) ** 2 for p in pts)
    if sxx == 0:
        return None
    b = sum((p[0] - mx) * (p[1] - my) for p in pts) / sxx
    return math.exp(my - b * mx), b


def fit_linear(xs: list[float], ys: list[float]) -> tuple[float, float] | None:
    """Least-squares y = c + s x (memory: a fixed part plus a part per object or stamp)."""
    pts = [(x, y) for x, y in zip(xs, ys) if math.isfinite(y)]
    if len(pts) < 2:
        return None
    mx = sum(p[0] for p in pts) / len(pts)
    my = sum(p[1] for p in pts) / len(pts)
    sxx = sum((p[0] - mx) ** 2 for p in pts)
    if sxx == 0:
        return None
    slope = sum((p[0] - mx) * (p[1] - my) for p in pts) / sxx
    return my - slope * mx, slope


def extrapolate(rows: list[dict]) -> list[dict]:
    """Per (dataset, stage): power-law exponents and the value at paper scale."""
    out = []
    keys = sorted({(r["dataset"], r["stage"]) for r in rows}, key=lambda k: (k[0], _stage_order(k)))
    for dataset, stage in keys:
        rs = sorted((r for r in rows if r["dataset"] == dataset and r["stage"] == stage), key=lambda r: r["x"])
        xs = [r["x"] for r in rs]
        target = PAPER_PLASTICC if dataset == "plasticc" else PAPER_SDSS_STAMPS
        rec = {"dataset": dataset, "stage": stage, "x_name": rs[0]["x_name"], "paper_x": target}
        for col in ("wall_s_sum", "cpu_s_sum", "wall_s_max_job"):  # time: power law
            fit = fit_power_law(xs, [r.get(col, float("nan")) for r in rs])
            rec[f"{col}_exponent"] = None if fit is None else round(fit[1], 2)
            rec[f"{col}_at_paper"] = None if fit is None else round(fit[0] * target ** fit[1], 1)
        # memory: a fixed part + a part per object/stamp (a power law through a large fixed part, e.g.
        # TensorFlow's ~1 GB, would hide the data-proportional growth)
        lin = fit_linear(xs, [r["peak_rss_mb"] for r in rs])
        rec["peak_rss_mb_fixed"] = None if lin is None else round(lin[0], 1)
        rec["peak_rss_kb_per_unit"] = None if lin is None else round(lin[1] * 1024, 3)
        rec["peak_rss_mb_at_paper"] = None if lin is None else round(lin[0] + lin[1] * target, 1)
        # chunked stages: per-job numbers at paper scale are those of a chunk of the same size
        out.append(rec)
    return out


def _stage_order(key) -> int:
    names = list(PLASTICC_STAGES) + list(SDSS_STAGES)
    return names.index(key[1]) if key[1] in names else 99


def write_report(rows: list[dict], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    rows = sorted(rows, key=lambda r: (r["dataset"], _stage_order((r["dataset"], r["stage"])), r["x"]))
    cols = ["dataset", "size", "x_name", "x", "stage", "jobs", "wall_s_max_job", "wall_s_sum", "cpu_s_sum",
            "peak_rss_mb", "note"]
    with open(out / "scale.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    ext = extrapolate(rows)
    with open(out / "scale_extrapolation.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(ext[0]) if ext else ["dataset"])
        w.writeheader()
        w.writerows(ext)
    lines = ["| data | size | stage | jobs | wall s (largest job) | wall s (all jobs) | CPU s (all jobs) | "
             "peak RSS MB (largest job) |", "|---|---:|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        size = f"{r['size']:,} objects" + (f" ({r['x']:,} stamps)" if r["x_name"] == "stamps" else "")
        lines.append(f"| {r['dataset']} | {size} | {r['stage']} | {r['jobs']} | {r['wall_s_max_job']:.1f} | "
                     f"{r['wall_s_sum']:.1f} | {r.get('cpu_s_sum', float('nan')):.1f} | {r['peak_rss_mb']:.0f} |")
    lines += ["", "Extrapolation (CPU time: y = a n^b; peak memory: y = a + b n; fitted through the measured sizes) "
              "to paper scale "
              f"({PAPER_PLASTICC:,} PLAsTiCC objects; {PAPER_SDSS_STAMPS:,} SDSS stamps):", "",
              "| data | stage | b (CPU time ~ n^b) | CPU h at paper scale (all jobs) | peak RSS: fixed MB + "
              "KB per object/stamp | peak RSS at paper scale (GB, largest job) |", "|---|---|---:|---:|---:|---:|"]
    for e in ext:
        t = e["cpu_s_sum_at_paper"]
        m = e["peak_rss_mb_at_paper"]
        unit = "stamp" if e["dataset"] == "sdss" else "object"
        mem = ("" if e["peak_rss_mb_fixed"] is None else
               f"{e['peak_rss_mb_fixed']:.0f} + {e['peak_rss_kb_per_unit']:.2f}/{unit}")
        lines.append(f"| {e['dataset']} | {e['stage']} | {e['cpu_s_sum_exponent']} | "
                     f"{'' if t is None else f'{t / 3600:.1f}'} | {mem} | {'' if m is None else f'{m / 1024:.1f}'} |")
    lines += ["", "Time is CPU time (Snakemake's benchmark cpu_time), which the load of a shared machine "
              "inflates far less than wall time; gp_chunk (sampled): one real chunk of the base objects, scaled "
              "linearly (module docstring)."]
    (out / "scale.md").write_text("\n".join(lines) + "\n")
    try:
        plot(rows, ext, out / "scale.png")
    except Exception as exc:  # noqa: BLE001 (the table is the result; the figure is a convenience)
        print(f"figure not written: {type(exc).__name__}: {exc}", file=sys.stderr)
    print("\n".join(lines))


def plot(rows: list[dict], ext: list[dict], path: Path) -> None:
    import matplotlib
    import numpy as np

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(12, 9))
    for col, (dataset, label, target) in enumerate((("plasticc", "PLAsTiCC objects (test set)", PAPER_PLASTICC),
                                                    ("sdss", "SDSS stamps", PAPER_SDSS_STAMPS))):
        stages = [s for s in (PLASTICC_STAGES if dataset == "plasticc" else SDSS_STAGES)
                  if any(r["dataset"] == dataset and r["stage"] == s for r in rows)]
        for i, stage in enumerate(stages):
            rs = sorted((r for r in rows if r["dataset"] == dataset and r["stage"] == stage), key=lambda r: r["x"])
            xs = [r["x"] for r in rs]
            e = next((e for e in ext if e["dataset"] == dataset and e["stage"] == stage), None)
            for row, (key, scale) in enumerate((("cpu_s_sum", 1.0), ("peak_rss_mb", 1.0))):
                ax = axes[row, col]
                colour = f"C{i}"
                ys = [r[key] * scale for r in rs]
                ax.loglog(xs, ys, "o-", color=colour, label=stage)
                gx = list(np.geomspace(xs[-1], target, 20))
                if key == "peak_rss_mb":
                    fit = fit_linear(xs, ys)
                    gy = None if fit is None else [fit[0] + fit[1] * g for g in gx]
                else:
                    fit = fit_power_law(xs, ys)
                    gy = None if fit is None else [fit[0] * g ** fit[1] for g in gx]
                if gy is not None and e is not None:
                    ax.loglog(gx, gy, "--", color=colour, alpha=0.6)
        for row, ylabel in enumerate(("CPU time, all jobs of the stage (s)", "peak RSS of the largest job (MB)")):
            ax = axes[row, col]
            ax.axvline(target, color="grey", lw=0.8, ls=":")
            ax.set_xlabel(label)
            ax.set_ylabel(ylabel)
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=8)
        axes[0, col].set_title(f"{dataset}: measured (solid), extrapolated (dashed: time a n^b, memory a + b n)\n"
                               "to paper scale (dotted line)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m transientrepro.bench.scale", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--plasticc", type=int, nargs="*", default=[10_000, 30_000, 100_000],
                    help="PLAsTiCC test-set sizes (objects)")
    ap.add_argument("--base", type=int, default=1500, help="test objects simulated and GP-fitted for real")
    ap.add_argument("--sdss", type=int, nargs="*", default=[300, 900, 2700], help="SDSS object counts")
    ap.add_argument("--objects-per-chunk", type=int, default=8750, help="objects per ingest/GP chunk")
    ap.add_argument("--cores", type=int, default=2, help="snakemake --cores")
    ap.add_argument("--timeout", type=int, default=3 * 3600, help="seconds per snakemake call before giving up")
    ap.add_argument("--work", type=Path, default=Path("results/bench/scale/work"), help="scratch directories")
    ap.add_argument("--out", type=Path, default=Path("results/bench/scale"), help="table and figure")
    ap.add_argument("--keep", action="store_true", help="keep each size's scratch directory")
    ap.add_argument("--report-only", action="store_true", help="rebuild the table/figure from rows.jsonl")
    args = ap.parse_args(argv)
    args.work, args.out = args.work.resolve(), args.out.resolve()
    args.out.mkdir(parents=True, exist_ok=True)
    rows_path = args.out / "rows.jsonl"

    def record(rows: list[dict]) -> None:
        with open(rows_path, "a") as f:
            for r in rows:
                f.write(json.dumps(r) + "\n")

    if not args.report_only:
        rows_path.write_text("")
        if args.plasticc:
            base_dir, _ = run_plasticc_base(args.work, args.base, args.cores, args.timeout)
        for n in args.plasticc:
            print(f"== plasticc n={n:,}: replicate raw files, ingest, (sampled GP), gather, split, t2 1 epoch",
                  flush=True)
            t0 = time.monotonic()
            rc, workdir, info = run_plasticc_size(args.work, base_dir, n, args.objects_per_chunk, args.cores,
                                                  args.timeout)
            print(f"   exit {rc}, {time.monotonic() - t0:.0f} s wall; {info}", flush=True)
            rows = stage_rows(workdir, PLASTICC_STAGES, "plasticc", n, {"x_name": "objects", "x": n})
            gp_row = gp_sampled_row(base_dir, args.base, n, info.get("n_chunks", 1))
            rows += [gp_row] if gp_row else []
            record([dict(r, exit=rc) for r in rows])
            if not args.keep and rc == 0:
                shutil.rmtree(workdir, ignore_errors=True)
        for n in args.sdss:
            workdir = args.work / f"sdss_{n}"
            if workdir.exists():
                shutil.rmtree(workdir)
            print(f"== sdss n={n:,}: sdss_simulate, sdss_ingest", flush=True)
            rc, wall = run_workflow(workdir, sdss_config(n), ["results/sdss/ingest/stamps.h5"], args.cores,
                                    args.timeout)
            print(f"   exit {rc}, {wall:.0f} s wall", flush=True)
            rows = stage_rows(workdir, SDSS_STAGES, "sdss", n, {"x_name": "stamps", "x": sdss_n_stamps(workdir) or 0})
            record([dict(r, exit=rc) for r in rows])
            if not args.keep and rc == 0:
                shutil.rmtree(workdir, ignore_errors=True)
    rows = [json.loads(line) for line in rows_path.read_text().splitlines() if line.strip()]
    if not rows:
        print("no measurements", file=sys.stderr)
        return 1
    write_report(rows, args.out)
    print(f"\nwrote {args.out / 'scale.csv'}, {args.out / 'scale.md'}, {args.out / 'scale.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
