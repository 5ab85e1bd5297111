"""Snakemake adapter: gather the declared figures into figures/ (atomically, as one directory)."""
from transientrepro.figures import collect_figures
from transientrepro.io import setup_logging

log = setup_logging(snakemake.log[0])
n = collect_figures(snakemake.input.figures, snakemake.output[0])
log.info("collected %d figures into %s", n, snakemake.output[0])
