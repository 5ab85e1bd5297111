# Stage: summaries — dataset tables (t2 Table 1 layout) and the PLAsTiCC reference classifier.


rule plasticc_class_counts:
    input:
        metadata="results/plasticc/ingest/metadata.parquet",
    output:
        counts="results/data/plasticc_class_counts.csv",
    log:
        "logs/summaries/plasticc_class_counts.log",
    conda:
        ENV_DATA
    threads: 1
    resources:
        mem_mb=4000,
        runtime=15,
    script:
        "../scripts/plasticc_class_counts.py"


rule plasticc_reference_classifier:
    input:
        metadata="results/plasticc/ingest/metadata.parquet",
        chunks=expand("results/plasticc/ingest/lightcurves_{chunk}.parquet", chunk=range(n_chunks())),
        split="results/plasticc/split.parquet",
    output:
        metrics="results/data/plasticc_reference_classifier.json",
        predictions="results/data/plasticc_reference_predictions.parquet",
    params:
        seed=config["seed"],
        max_objects=config["plasticc"]["reference"]["max_objects"],
        n_estimators=config["plasticc"]["reference"]["n_estimators"],
    log:
        "logs/summaries/plasticc_reference_classifier.log",
    benchmark:
        "benchmarks/summaries/plasticc_reference_classifier.tsv"
    conda:
        ENV_DATA
    threads: 1
    resources:
        mem_mb=16000 if config["plasticc"]["source"] == "zenodo" else 3000,
        runtime=120 if config["plasticc"]["source"] == "zenodo" else 15,
    script:
        "../scripts/plasticc_reference_classifier.py"


STAGE_TARGETS["summaries_plasticc"] = [
    "results/data/plasticc_class_counts.csv",
    "results/data/plasticc_reference_classifier.json",
]

# --- SDSS summaries ---


rule sdss_summaries:
    input:
        objects="results/sdss/ingest/objects.parquet",
    output:
        class_counts="results/data/sdss_class_counts.csv",
        partition_counts="results/data/sdss_partition_counts.csv",
    params:
        seed=config["seed"],
        snia_uncertain=config["convention"]["snia_uncertain"],
    log:
        "logs/summaries/sdss_summaries.log",
    conda:
        ENV_DATA
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../scripts/sdss_summaries.py"


STAGE_TARGETS["summaries_sdss"] = [
    "results/data/sdss_class_counts.csv",
    "results/data/sdss_partition_counts.csv",
]
