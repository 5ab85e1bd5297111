# Stage: download — the real data sets (active only when a source is not "simulate").
#   plasticc.source == "zenodo": one job per file of Zenodo record 2539456 -> resources/plasticc/<name>
#   sdss.source == "sdss":       SDSS-II SN release files, a download plan, corrected frames streamed in
#                                chunk jobs -> resources/sdss/ (SDSSSTAMP-CUBE)
# The download_* rules and sdss_plan are localrules (the cluster profile runs them on the login node, which
# has internet); the sdss_frames_chunk jobs are cluster jobs unless sdss.archive.chunks_local is true.
import os
import re


if config["plasticc"]["source"] == "zenodo":
    from transientrepro.download import pinned_md5

    _ZEN = config["plasticc"]["zenodo"]
    _PLASTICC_NAMES = "|".join(re.escape(k) for k in plasticc_raw_files())
    _plasticc_out = f"{PLASTICC_RAW}/{{name}}.csv.gz"

    localrules:
        download_plasticc,

    rule download_plasticc:
        output:
            (
                ensure(
                    _plasticc_out,
                    non_empty=True,
                    md5=lambda w: pinned_md5(_ZEN["checksums"], f"{w.name}.csv.gz"),
                )
                if _ZEN["checksums"]
                else ensure(_plasticc_out, non_empty=True)
            ),
        input:
            pins=[_ZEN["checksums"]] if _ZEN["checksums"] else [],
        wildcard_constraints:
            name=_PLASTICC_NAMES,
        params:
            zenodo=_ZEN,
        log:
            "logs/download/plasticc_{name}.log",
        conda:
            ENV_DATA
        threads: 1
        retries: _ZEN["rule_retries"]
        resources:
            mem_mb=500,
            runtime=120,
        script:
            "../scripts/download_plasticc.py"


if config["sdss"]["source"] == "sdss":
    # SDSS-II SN survey: release files + a download plan + frames streamed in chunk jobs:
    #   download_sdss_file (x3-4) -> sdss_plan (prints the plan summary) -> sdss_frames_chunk (x n_chunks,
    #   parallel; SLURM jobs unless chunks_local) -> sdss_frames_gather -> the SDSSSTAMP-CUBE layout.
    _SDSS_ARCH = config["sdss"]["archive"]
    _SDSS_ARCHIVE_DIR = f"{SDSS_RAW}/archive"
    _SDSS_PLAN_DIR = f"{_SDSS_ARCHIVE_DIR}/plan"
    _SDSS_CHUNK_DIR = f"{_SDSS_ARCHIVE_DIR}/chunks/chunk_{{chunk}}"
    _SDSS_CHUNKS = list(range(_SDSS_ARCH["n_chunks"]))
    _SDSS_RUN_LIST = os.path.basename(_SDSS_ARCH["run_list_url"]) if _SDSS_ARCH["run_list_url"] else ""
    _SDSS_RELEASE_FILES = ["master_data.txt", "SMP_Data.tar.gz", "window_flist.fits"] + (
        [_SDSS_RUN_LIST] if _SDSS_RUN_LIST else []
    )

    localrules:
        download_sdss_file,
        sdss_plan,

    if _SDSS_ARCH["chunks_local"]:  # compute nodes without internet: chunk jobs run where snakemake runs

        localrules:
            sdss_frames_chunk,

    rule download_sdss_file:
        output:
            ensure(f"{_SDSS_ARCHIVE_DIR}/{{sdss_file}}", non_empty=True),
        wildcard_constraints:
            sdss_file="|".join(re.escape(f) for f in _SDSS_RELEASE_FILES),
        params:
            archive=_SDSS_ARCH,
        log:
            "logs/download/sdss_{sdss_file}.log",
        conda:
            ENV_DATA
        threads: 1
        retries: _SDSS_ARCH["rule_retries"]
        resources:
            mem_mb=1000,
            runtime=120,
        script:
            "../scripts/download_sdss_file.py"

    rule sdss_plan:
        input:
            master=f"{_SDSS_ARCHIVE_DIR}/master_data.txt",
            window_flist=[] if _SDSS_ARCH["frame_list"] else [f"{_SDSS_ARCHIVE_DIR}/window_flist.fits"],
            frame_list=[_SDSS_ARCH["frame_list"]] if _SDSS_ARCH["frame_list"] else [],
            run_list=[f"{_SDSS_ARCHIVE_DIR}/{_SDSS_RUN_LIST}"] if _SDSS_RUN_LIST else [],
        output:
            plan=f"{_SDSS_PLAN_DIR}/plan.csv",
            summary=f"{_SDSS_PLAN_DIR}/plan_summary.json",
            text=f"{_SDSS_PLAN_DIR}/plan_summary.txt",
            chunks=expand(f"{_SDSS_PLAN_DIR}/chunk_{{chunk}}.csv", chunk=_SDSS_CHUNKS),
        params:
            archive=_SDSS_ARCH,
            seed=config["seed"],
        log:
            "logs/download/sdss_plan.log",
        benchmark:
            "benchmarks/download/sdss_plan.tsv"
        conda:
            ENV_DATA
        threads: 1
        resources:
            mem_mb=_SDSS_ARCH["plan_mem_mb"],
            runtime=_SDSS_ARCH["plan_runtime"],
        script:
            "../scripts/sdss_plan.py"

    rule sdss_frames_chunk:
        input:
            plan=f"{_SDSS_PLAN_DIR}/chunk_{{chunk}}.csv",
            master=f"{_SDSS_ARCHIVE_DIR}/master_data.txt",
        output:
            stamps=f"{_SDSS_CHUNK_DIR}/stamps.npy",
            meta=f"{_SDSS_CHUNK_DIR}/stamps.parquet",
            summary=f"{_SDSS_CHUNK_DIR}/summary.json",
        params:
            archive=_SDSS_ARCH,
            frame_dir=f"{_SDSS_ARCHIVE_DIR}/frames",
        wildcard_constraints:
            chunk=r"\d+",
        log:
            "logs/download/sdss_frames_chunk_{chunk}.log",
        benchmark:
            "benchmarks/download/sdss_frames_chunk_{chunk}.tsv"
        conda:
            ENV_DATA
        threads: 1
        retries: _SDSS_ARCH["rule_retries"]
        resources:
            mem_mb=_SDSS_ARCH["chunk_mem_mb"],
            runtime=_SDSS_ARCH["chunk_runtime"],
        script:
            "../scripts/sdss_frames_chunk.py"

    rule sdss_frames_gather:
        input:
            master=f"{_SDSS_ARCHIVE_DIR}/master_data.txt",
            smp=[f"{_SDSS_ARCHIVE_DIR}/SMP_Data.tar.gz"] if _SDSS_ARCH["lightcurves"] else [],
            plan_summary=f"{_SDSS_PLAN_DIR}/plan_summary.json",
            stamps=expand(f"{_SDSS_CHUNK_DIR}/stamps.npy", chunk=_SDSS_CHUNKS),
            meta=expand(f"{_SDSS_CHUNK_DIR}/stamps.parquet", chunk=_SDSS_CHUNKS),
            summaries=expand(f"{_SDSS_CHUNK_DIR}/summary.json", chunk=_SDSS_CHUNKS),
        output:
            catalog=f"{SDSS_RAW}/catalog.csv",
            lightcurves=f"{SDSS_RAW}/lightcurves.csv",
            stamps=directory(f"{SDSS_RAW}/stamps"),
            summary=f"{_SDSS_ARCHIVE_DIR}/download_summary.json",
            bad_frames=f"{_SDSS_ARCHIVE_DIR}/bad_frames.csv",
        params:
            archive=_SDSS_ARCH,
            out_dir=lambda w, output: os.path.dirname(output.catalog),
            seed=config["seed"],
        log:
            "logs/download/sdss_frames_gather.log",
        benchmark:
            "benchmarks/download/sdss_frames_gather.tsv"
        conda:
            ENV_DATA
        threads: 1
        resources:
            mem_mb=_SDSS_ARCH["gather_mem_mb"],
            runtime=_SDSS_ARCH["gather_runtime"],
        script:
            "../scripts/sdss_frames_gather.py"
