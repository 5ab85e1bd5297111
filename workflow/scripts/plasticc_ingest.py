"""Raw PLAsTiCC CSVs (simulated or downloaded) -> partitioned parquet (rule ingest_plasticc)."""
from transientrepro.io import setup_logging

log = setup_logging(snakemake.log[0])  # noqa: F821

from transientrepro.io import write_json  # noqa: E402
from transientrepro.plasticc.ingest import ingest_plasticc  # noqa: E402

inp = snakemake.input  # noqa: F821
test_lc = sorted(v for k, v in inp.items() if k.startswith("plasticc_test_lightcurves_"))
report = ingest_plasticc(
    metadata_files={"train": inp.plasticc_train_metadata, "test": inp.plasticc_test_metadata},
    lightcurve_files={"train": [inp.plasticc_train_lightcurves], "test": test_lc},
    out_metadata=snakemake.output.metadata,  # noqa: F821
    out_chunks=list(snakemake.output.chunks),  # noqa: F821
    chunksize=int(snakemake.params.chunksize),  # noqa: F821
    drop_unknown_classes=bool(snakemake.params.drop_unknown_classes),  # noqa: F821
)
write_json(report, snakemake.output.report)  # noqa: F821
log.info("ingested %d objects, %d rows in %.1f s", report["n_objects"], report["n_rows"], report["wall_time_s"])
