# Stage: convention_ablation -- ConvEntion's paper-vs-code switches flipped one at a time from the
# recipe of the convention section, on the embedded data, for several seeds (issue 10).
# Its own target (`make ablation`), not part of `all`/`make run`:
#   snakemake --cores 2 results/notebooks/convention_ablation.ipynb

ABL = CONV.get("ablation", {})
ABL_DIR = "results/sdss/ablation"
# the section the runs start from (tuning and scheduling keys removed; the ablation keys kept)
ABL_SECTION = {k: v for k, v in CONV.items() if k not in ("gpu", "threads", "variants", "tuning")}

import sys

if _SRC not in sys.path:  # this checkout's package (common.smk), also for the Snakefile's own imports
    sys.path.insert(0, _SRC)
from transientrepro.convention.ablation import runs as ablation_runs

ABL_SUMMARIES = [f"{ABL_DIR}/runs/{r}/seed{s}/summary.json" for r in ablation_runs(CONV) for s in ABL.get("seeds", [1, 2, 3])]


rule convention_ablation_run:
    input:
        objects="results/sdss/ingest/objects.parquet",
        stamps="results/sdss/ingest/stamps.h5",
    output:
        summary=f"{ABL_DIR}/runs/{{run}}/seed{{seed}}/summary.json",
    params:
        section=ABL_SECTION,
        partition_seed=config["seed"],
    wildcard_constraints:
        run=r"[A-Za-z0-9_]+",
        seed=r"\d+",
    log:
        "logs/convention_ablation/{run}_seed{seed}.log",
    benchmark:
        "benchmarks/convention_ablation/{run}_seed{seed}.tsv"
    conda:
        ENV_TORCH
    threads: CONV["threads"]
    resources:
        mem_mb=stamps_mem_mb(CONV),
        runtime=60,
        gpu=CONV["gpu"],
    script:
        "../scripts/convention_ablation_run.py"


rule convention_ablation_gather:
    input:
        summaries=ABL_SUMMARIES,
        objects="results/sdss/ingest/objects.parquet",
        stamps="results/sdss/ingest/stamps.h5",
    output:
        csv=f"{ABL_DIR}/convention_ablation.csv",
        details=f"{ABL_DIR}/convention_ablation_details.csv",
        windows=f"{ABL_DIR}/window_diagnostics.csv",
    params:
        section=ABL_SECTION,
        partition_seed=config["seed"],
    log:
        "logs/convention_ablation/gather.log",
    conda:
        ENV_TORCH
    threads: 1
    resources:
        mem_mb=stamps_mem_mb(CONV),
        runtime=15,
    script:
        "../scripts/convention_ablation_gather.py"


localrules:
    notebook_convention_ablation,


rule notebook_convention_ablation:
    input:
        nb="workflow/notebooks/convention_ablation.ipynb",
        csv=f"{ABL_DIR}/convention_ablation.csv",
        windows=f"{ABL_DIR}/window_diagnostics.csv",
    output:
        nb="results/notebooks/convention_ablation.ipynb",
        figs=directory("results/figures/ablation"),
    log:
        "logs/figures/convention_ablation.log",
    conda:
        ENV_NOTEBOOK
    shell:
        "papermill {input.nb} {output.nb} -k python3 --log-output"
        " -p fig_dir {output.figs} -p ablation_csv {input.csv} -p windows_csv {input.windows} > {log} 2>&1"
