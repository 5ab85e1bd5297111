# Stage: sdss_data — SDSS-II SN survey image stamps (ConvEntion §2).
#   sdss.source == "simulate": sdss_simulate writes resources/sdss/{catalog.csv,lightcurves.csv,stamps/}
#   sdss.source == "sdss":     download.smk (download_sdss) writes the same layout
#   (transientrepro.sdss.fitsio documents it); sdss_ingest validates and flattens it either way.

SDSS_INGEST = "results/sdss/ingest"


if config["sdss"]["source"] == "simulate":

    rule sdss_simulate:
        output:
            catalog=f"{SDSS_RAW}/catalog.csv",
            lightcurves=f"{SDSS_RAW}/lightcurves.csv",
            stamps=directory(f"{SDSS_RAW}/stamps"),
            summary=f"{SDSS_RAW}/simulate_summary.json",
        params:
            simulate=config["sdss"]["simulate"],
        log:
            "logs/sdss_data/simulate.log",
        benchmark:
            "benchmarks/sdss_data/simulate.tsv"
        conda:
            ENV_DATA
        threads: 1
        resources:
            mem_mb=config["sdss"]["simulate"]["mem_mb"],
            runtime=config["sdss"]["simulate"]["runtime"],
        script:
            "../scripts/sdss_simulate.py"


rule sdss_ingest:
    input:
        catalog=f"{SDSS_RAW}/catalog.csv",
        lightcurves=f"{SDSS_RAW}/lightcurves.csv",
        stamps=f"{SDSS_RAW}/stamps",
    output:
        objects=f"{SDSS_INGEST}/objects.parquet",
        stamps=f"{SDSS_INGEST}/stamps.h5",
        lightcurves=f"{SDSS_INGEST}/lightcurves.parquet",
        summary=f"{SDSS_INGEST}/ingest_summary.json",
    params:
        ingest=config["sdss"]["ingest"],
        stamp_size=config["sdss"]["ingest"]["stamp_size"],
    log:
        "logs/sdss_data/ingest.log",
    benchmark:
        "benchmarks/sdss_data/ingest.tsv"
    conda:
        ENV_DATA
    threads: 1
    resources:
        mem_mb=config["sdss"]["ingest"]["mem_mb"],
        runtime=config["sdss"]["ingest"]["runtime"],
    script:
        "../scripts/sdss_ingest.py"


STAGE_TARGETS["sdss_data"] = [
    f"{SDSS_INGEST}/objects.parquet",
    f"{SDSS_INGEST}/stamps.h5",
    f"{SDSS_INGEST}/lightcurves.parquet",
]
