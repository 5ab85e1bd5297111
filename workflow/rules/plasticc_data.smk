# Stage: plasticc_data — raw PLAsTiCC inputs in the Zenodo 2539456 layout -> partitioned parquet.
#   plasticc.source == "simulate": rule simulate_plasticc writes the embedded PLAsTiCC-like files.
#   plasticc.source == "zenodo":   the files come from rule download_plasticc (workflow/rules/download.smk).
# rule ingest_plasticc is the same for both.
INGEST = "results/plasticc/ingest"
PLASTICC_FULL_SCALE = config["plasticc"]["source"] == "zenodo"


if config["plasticc"]["source"] == "simulate":

    rule simulate_plasticc:
        input:
            reference="data/plasticc_kaggle_training_metadata/training_set_metadata.csv",
        output:
            **plasticc_raw_files(),
        params:
            sim=config["plasticc"]["simulate"],
        log:
            "logs/plasticc_data/simulate_plasticc.log",
        benchmark:
            "benchmarks/plasticc_data/simulate_plasticc.tsv"
        conda:
            ENV_DATA
        threads: 1
        resources:
            mem_mb=4000,
            runtime=30,
        script:
            "../scripts/plasticc_simulate.py"


rule ingest_plasticc:
    input:
        **plasticc_raw_files(),
    output:
        metadata=f"{INGEST}/metadata.parquet",
        chunks=expand(f"{INGEST}/lightcurves_{{chunk}}.parquet", chunk=range(n_chunks())),
        report=f"{INGEST}/report.json",
    params:
        chunksize=config["plasticc"]["ingest"]["chunksize"],
        drop_unknown_classes=config["plasticc"]["ingest"]["drop_unknown_classes"],
    log:
        "logs/plasticc_data/ingest_plasticc.log",
    benchmark:
        "benchmarks/plasticc_data/ingest_plasticc.tsv"
    conda:
        ENV_DATA
    priority: T2_CHAIN_PRIORITY
    threads: 1
    resources:
        mem_mb=24000 if PLASTICC_FULL_SCALE else 3000,
        runtime=360 if PLASTICC_FULL_SCALE else 30,
    script:
        "../scripts/plasticc_ingest.py"


STAGE_TARGETS["plasticc_data"] = [f"{INGEST}/metadata.parquet"] + expand(
    f"{INGEST}/lightcurves_{{chunk}}.parquet", chunk=range(n_chunks())
)
