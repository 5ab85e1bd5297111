"""Simulate the SDSS-II-like image-stamp data set (config sdss.simulate) into resources/sdss/."""
from transientrepro.io import setup_logging

log = setup_logging(snakemake.log[0])  # noqa: F821

from pathlib import Path  # noqa: E402

from transientrepro.io import write_json  # noqa: E402
from transientrepro.sdss.simulate import SimConfig, simulate  # noqa: E402

params = {k: v for k, v in snakemake.params.simulate.items() if k not in ("mem_mb", "runtime")}  # noqa: F821
cfg = SimConfig.from_dict(params)
out = snakemake.output  # noqa: F821
summary = simulate(cfg, Path(out.catalog).parent, catalog_path=out.catalog, lightcurves_path=out.lightcurves,
                   stamps_dir=out.stamps)
log.info("simulation summary: %s", summary)
write_json(summary, out.summary)
