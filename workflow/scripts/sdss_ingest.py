"""Validate catalog + FITS stamps + light curves and flatten them (results/sdss/ingest/)."""
from transientrepro.io import setup_logging

log = setup_logging(snakemake.log[0])  # noqa: F821

from transientrepro.io import write_json  # noqa: E402
from transientrepro.sdss.ingest import ingest  # noqa: E402

inp, out, p = snakemake.input, snakemake.output, snakemake.params  # noqa: F821
summary = ingest(
    inp.catalog, inp.stamps, inp.lightcurves, out.objects, out.stamps, out.lightcurves,
    stamp_size=None if p.stamp_size is None else int(p.stamp_size),
    nonfinite=p.ingest["nonfinite"],
    max_nonfinite_frac=float(p.ingest["max_nonfinite_frac"]),
)
write_json(summary, out.summary)
