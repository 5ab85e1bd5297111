"""Snakemake adapter: pre-train and cross-validate one t2-on-SDSS variant (transientrepro.t2.sdss)."""
from transientrepro.io import setup_logging

log = setup_logging(snakemake.log[0])  # noqa: F821

from transientrepro.t2.sdss import run_sdss_t2  # noqa: E402

sm = snakemake  # noqa: F821
run_sdss_t2(sm.input.gp, sm.input.split, sm.input.split_info, sm.wildcards.variant, sm.params.t2, sm.params.section,
            out_dir=sm.output.metrics.rsplit("/", 1)[0], seed=int(sm.params.seed), threads=sm.threads)
