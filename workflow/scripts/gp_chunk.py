"""GP-interpolate one ingest chunk (rule gp_chunk); logic in transientrepro.gp."""
from transientrepro.io import setup_logging

log = setup_logging(snakemake.log[0])  # noqa: F821

from transientrepro.gp import run_chunk  # noqa: E402

run_chunk(
    metadata_path=snakemake.input.metadata,  # noqa: F821
    lightcurves_path=snakemake.input.lightcurves,  # noqa: F821
    chunk=int(snakemake.wildcards.chunk),  # noqa: F821
    gp_section=snakemake.params.gp,  # noqa: F821
    out_npz=snakemake.output.npz,  # noqa: F821
    out_failures=snakemake.output.failures,  # noqa: F821
    out_summary=snakemake.output.summary,  # noqa: F821
)
