# Stage: t2_ablation -- t2's paper-vs-code switches flipped one at a time from the authors' recipe
# (the t2 and gp sections as configured), on the run's simulated data and split, for several seeds,
# plus a learning curve of t2 and the reference classifier on the same test objects (issue 9).
# Its own target (`make ablation-t2`), not part of `all`/`make run`:
#   snakemake --cores 2 results/notebooks/t2_ablation.ipynb

T2ABL_DIR = "results/plasticc/ablation"

from transientrepro.t2 import ablation as t2_ablation

T2ABL = t2_ablation.ablation_settings(config["t2"])
T2ABL_JOBS = t2_ablation.run_jobs(config["t2"], config["gp"])
T2ABL_GRIDS = t2_ablation.extra_time_grids(config["t2"], config["gp"])
T2ABL_GP = {config["gp"].get("time_grid", "observed"): "results/plasticc/gp/gp.h5"}
T2ABL_GP.update({g: f"{T2ABL_DIR}/gp_{g}/gp.h5" for g in T2ABL_GRIDS})


rule t2_ablation_gp_chunk:
    input:
        metadata="results/plasticc/ingest/metadata.parquet",
        lightcurves="results/plasticc/ingest/lightcurves_{chunk}.parquet",
    output:
        npz=f"{T2ABL_DIR}/gp_{{grid}}/chunk_{{chunk}}.npz",
        failures=f"{T2ABL_DIR}/gp_{{grid}}/failures_{{chunk}}.csv",
        summary=f"{T2ABL_DIR}/gp_{{grid}}/summary_{{chunk}}.json",
    params:
        gp=lambda wc: {**config["gp"], "time_grid": wc.grid},
    wildcard_constraints:
        chunk=r"\d+",
        grid="observed|detected|transient",
    threads: 1
    resources:
        mem_mb=config["gp"].get("chunk_mem_mb", 2000),
        runtime=config["gp"].get("chunk_runtime", 30),
    log:
        "logs/t2_ablation/gp_{grid}_chunk_{chunk}.log",
    benchmark:
        "benchmarks/t2_ablation/gp_{grid}_chunk_{chunk}.tsv"
    conda:
        ENV_GP
    script:
        "../scripts/gp_chunk.py"


rule t2_ablation_gp_gather:
    input:
        npz=expand(f"{T2ABL_DIR}/gp_{{{{grid}}}}/chunk_{{chunk}}.npz", chunk=GP_CHUNKS),
        failures=expand(f"{T2ABL_DIR}/gp_{{{{grid}}}}/failures_{{chunk}}.csv", chunk=GP_CHUNKS),
        summaries=expand(f"{T2ABL_DIR}/gp_{{{{grid}}}}/summary_{{chunk}}.json", chunk=GP_CHUNKS),
    output:
        store=f"{T2ABL_DIR}/gp_{{grid}}/gp.h5",
        failures=f"{T2ABL_DIR}/gp_{{grid}}/failures.csv",
        summary=f"{T2ABL_DIR}/gp_{{grid}}/summary.json",
    wildcard_constraints:
        grid="observed|detected|transient",
    threads: 1
    resources:
        mem_mb=config["gp"].get("gather_mem_mb", 2000),
        runtime=30,
    log:
        "logs/t2_ablation/gp_{grid}_gather.log",
    conda:
        ENV_GP
    script:
        "../scripts/gp_gather.py"


rule t2_ablation_run:
    input:
        gp=list(T2ABL_GP.values()),
        split="results/plasticc/split.parquet",
    output:
        f"{T2ABL_DIR}/runs/{{run}}/n{{n}}/seed{{seed}}.json",
    params:
        section=config["t2"],
        gp_section=config["gp"],
        gp_paths=T2ABL_GP,
    wildcard_constraints:
        run=r"[A-Za-z0-9_.]+",
        n=r"\d+",
        seed=r"\d+",
    threads: config["t2"].get("threads", 2)
    resources:
        mem_mb=config["t2"].get("mem_mb", 4000),
        runtime=config["t2"].get("runtime", 30),
        gpu=config["t2"].get("gpu", 0),
    log:
        "logs/t2_ablation/{run}_n{n}_seed{seed}.log",
    benchmark:
        "benchmarks/t2_ablation/{run}_n{n}_seed{seed}.tsv"
    conda:
        ENV_TF
    script:
        "../scripts/t2_ablation_run.py"


rule t2_ablation_reference:
    input:
        metadata="results/plasticc/ingest/metadata.parquet",
        chunks=expand("results/plasticc/ingest/lightcurves_{chunk}.parquet", chunk=range(n_chunks())),
        split="results/plasticc/split.parquet",
        gp="results/plasticc/gp/gp.h5",
    output:
        f"{T2ABL_DIR}/reference/n{{n}}/seed{{seed}}.json",
    params:
        section=config["t2"],
    wildcard_constraints:
        n=r"\d+",
        seed=r"\d+",
    threads: 1
    resources:
        mem_mb=3000,
        runtime=30,
    log:
        "logs/t2_ablation/reference_n{n}_seed{seed}.log",
    conda:
        ENV_TF  # transientrepro.t2.ablation (the subset of t2's runs) lives beside the TF code
    script:
        "../scripts/t2_ablation_reference.py"


rule t2_ablation_gather:
    input:
        runs=[f"{T2ABL_DIR}/runs/{r}/n{n}/seed{s}.json" for r, n, s in T2ABL_JOBS],
        reference=[f"{T2ABL_DIR}/reference/n{n}/seed{s}.json" for n in T2ABL["sizes"] for s in T2ABL["seeds"]],
    output:
        csv=f"{T2ABL_DIR}/t2_ablation.csv",
        summary=f"{T2ABL_DIR}/t2_ablation_summary.csv",
    params:
        section=config["t2"],
        gp_section=config["gp"],
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    log:
        "logs/t2_ablation/gather.log",
    conda:
        ENV_TF
    script:
        "../scripts/t2_ablation_gather.py"


localrules:
    notebook_t2_ablation,


rule notebook_t2_ablation:
    input:
        nb="workflow/notebooks/t2_ablation.ipynb",
        csv=f"{T2ABL_DIR}/t2_ablation.csv",
        summary=f"{T2ABL_DIR}/t2_ablation_summary.csv",
    output:
        nb="results/notebooks/t2_ablation.ipynb",
        figs=directory("results/figures/t2_ablation"),
    log:
        "logs/figures/t2_ablation.log",
    conda:
        ENV_NOTEBOOK
    shell:
        "papermill {input.nb} {output.nb} -k python3 --log-output"
        " -p fig_dir {output.figs} -p ablation_csv {input.csv} -p summary_csv {input.summary} > {log} 2>&1"
