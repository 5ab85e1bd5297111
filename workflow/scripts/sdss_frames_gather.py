"""Gather the SDSS chunk jobs into the SDSSSTAMP-CUBE layout (catalog.csv, stamps/, lightcurves.csv) that
sdss_ingest reads, plus download_summary.json and bad_frames.csv; logic in transientrepro.sdss.chunks."""
from transientrepro.io import setup_logging

log = setup_logging(snakemake.log[0])  # noqa: F821

from pathlib import Path  # noqa: E402

from transientrepro.io import read_json, write_json  # noqa: E402
from transientrepro.sdss.archive import read_master_table, read_smp_archive, select_objects  # noqa: E402
from transientrepro.sdss.chunks import gather_chunks, write_bad_frames  # noqa: E402

inp, out, a = snakemake.input, snakemake.output, snakemake.params.archive  # noqa: F821
try:
    master = read_master_table(inp.master, expected_rows=a.get("master_rows"))
    objects = select_objects(master, classifications=a.get("classifications") or None,
                             max_objects=a.get("max_objects"), seed=int(snakemake.params.seed))  # noqa: F821
    smp = list(inp.smp)
    lcs = read_smp_archive(smp[0], cids=objects["CID"]) if smp else None
    plan = read_json(inp.plan_summary)
    summary = gather_chunks([Path(p).parent for p in inp.stamps], objects, snakemake.params.out_dir,  # noqa: F821
                            lightcurves=lcs, stamp_size=int(a["stamp_size"]),
                            extra_summary={"plan": {k: plan[k] for k in ("frames", "stamps_planned", "estimated_tb")}})
    write_bad_frames(summary, out.bad_frames)
    write_json(summary, out.summary)
except Exception:
    log.exception("SDSS gather failed")
    raise
log.info("SDSS download: %d objects written (%d without stamps), %d stamps, %d frames bad (see %s)",
         summary["objects_written"], summary["objects_without_stamps"], summary["stamps"], summary["frames_bad"],
         out.bad_frames)
