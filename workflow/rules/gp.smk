# Stage: gp. 2-D Gaussian-process interpolation of the PLAsTiCC light curves (t2 §3.2.1) and the
# representative train/test split (t2 §5.1). Only objects of the unblinded test files
# (metadata split == "test", class 99 removed) are interpolated: t2 builds its new training and
# test sets from those; the training-file objects are not used.
# Scatter: one gp_chunk job per ingest chunk (group "gp", so a cluster executor can bundle them),
# gathered by gp_gather.

GP_DIR = "results/plasticc/gp"
GP_CHUNKS = list(range(n_chunks()))


rule gp_chunk:
    input:
        metadata="results/plasticc/ingest/metadata.parquet",
        lightcurves="results/plasticc/ingest/lightcurves_{chunk}.parquet",
    output:
        npz=f"{GP_DIR}/chunk_{{chunk}}.npz",
        failures=f"{GP_DIR}/failures_{{chunk}}.csv",
        summary=f"{GP_DIR}/summary_{{chunk}}.json",
    params:
        gp=config["gp"],
    wildcard_constraints:
        chunk=r"\d+",
    group:
        "gp"
    priority: T2_CHAIN_PRIORITY
    threads: 1
    resources:
        mem_mb=config["gp"].get("chunk_mem_mb", 2000),
        runtime=config["gp"].get("chunk_runtime", 30),
        gpu=config["gp"].get("gpu", 0),  # gp.engine batched with gp.device auto/cuda
    log:
        "logs/gp/chunk_{chunk}.log",
    benchmark:
        "benchmarks/gp/chunk_{chunk}.tsv"
    conda:
        ENV_GP
    script:
        "../scripts/gp_chunk.py"


rule gp_gather:
    input:
        npz=expand(f"{GP_DIR}/chunk_{{chunk}}.npz", chunk=GP_CHUNKS),
        failures=expand(f"{GP_DIR}/failures_{{chunk}}.csv", chunk=GP_CHUNKS),
        summaries=expand(f"{GP_DIR}/summary_{{chunk}}.json", chunk=GP_CHUNKS),
    output:
        store=f"{GP_DIR}/gp.h5",
        failures=f"{GP_DIR}/failures.csv",
        summary=f"{GP_DIR}/summary.json",
    priority: T2_CHAIN_PRIORITY
    threads: 1
    resources:
        # gp.h5 is written one chunk at a time: memory ~ one chunk, whatever the number of chunks
        mem_mb=config["gp"].get("gather_mem_mb", 2000),
        runtime=max(30, n_chunks() // 4),
    log:
        "logs/gp/gather.log",
    benchmark:
        "benchmarks/gp/gather.tsv"
    conda:
        ENV_GP
    script:
        "../scripts/gp_gather.py"


rule split:
    input:
        gp=f"{GP_DIR}/gp.h5",
    output:
        split="results/plasticc/split.parquet",
        summary="results/plasticc/split_summary.json",
    params:
        test_fraction=config["split"]["test_fraction"],
        redshift_bins=config["split"]["redshift_bins"],
        seed=config["seed"],
    priority: T2_CHAIN_PRIORITY
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    log:
        "logs/gp/split.log",
    benchmark:
        "benchmarks/gp/split.tsv"
    conda:
        ENV_DATA
    script:
        "../scripts/split.py"


STAGE_TARGETS["gp"] = [f"{GP_DIR}/gp.h5", "results/plasticc/split.parquet"]
