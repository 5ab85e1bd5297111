"""Snakemake adapter: GP-interpolate the SDSS light curves in one band set (transientrepro.gp.sdss)."""
from transientrepro.io import setup_logging

log = setup_logging(snakemake.log[0])  # noqa: F821

from transientrepro.gp.sdss import run_sdss_gp  # noqa: E402

sm = snakemake  # noqa: F821
run_sdss_gp(sm.input.objects, sm.input.lightcurves, sm.wildcards.bands, sm.params.gp, float(sm.params.detection_snr),
            sm.output.npz, sm.output.failures, sm.output.summary)
