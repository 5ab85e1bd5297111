"""Snakemake adapter: one t2 TPE tuning worker (transientrepro.t2.tuning.run_tune_worker)."""
from transientrepro.io import setup_logging

log = setup_logging(snakemake.log[0])

from transientrepro.t2.tuning import run_tune_worker  # noqa: E402

run_tune_worker(
    gp_path=snakemake.input.gp,
    split_path=snakemake.input.split,
    variant=snakemake.wildcards.variant,
    t2_config=snakemake.params.section,
    seed=int(snakemake.params.seed),
    worker=int(snakemake.wildcards.worker),
    storage_path=snakemake.params.storage,
    out_json=snakemake.output[0],
    threads=snakemake.threads,
)
