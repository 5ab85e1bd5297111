"""Gather the GP chunks into gp.h5 (HDF5, one chunk at a time), failures.csv, summary.json (rule gp_gather)."""
from transientrepro.io import setup_logging

log = setup_logging(snakemake.log[0])  # noqa: F821

from transientrepro.gp import run_gather  # noqa: E402

run_gather(
    npz_paths=list(snakemake.input.npz),  # noqa: F821
    failure_paths=list(snakemake.input.failures),  # noqa: F821
    summary_paths=list(snakemake.input.summaries),  # noqa: F821
    out_store=snakemake.output.store,  # noqa: F821
    out_failures=snakemake.output.failures,  # noqa: F821
    out_summary=snakemake.output.summary,  # noqa: F821
)
