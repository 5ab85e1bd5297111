"""One SDSS chunk job (rule sdss_frames_chunk): download each planned frame, cut its stamps, delete it
(unless keep_frames); journaled, so a killed job resumes; logic in transientrepro.sdss.chunks."""
from transientrepro.io import setup_logging

log = setup_logging(snakemake.log[0])  # noqa: F821

from pathlib import Path  # noqa: E402

from transientrepro.sdss.archive import FRAME_URL, frame_fetcher, read_master_table  # noqa: E402
from transientrepro.sdss.chunks import run_chunk  # noqa: E402
from transientrepro.sdss.plan import read_plan  # noqa: E402

inp, out, a = snakemake.input, snakemake.output, snakemake.params.archive  # noqa: F821
try:
    plan = read_plan(inp.plan)
    master = read_master_table(inp.master, expected_rows=a.get("master_rows"))
    summary = run_chunk(
        plan, master[master["CID"].isin(plan["object"])], Path(out.stamps).parent,
        snakemake.params.frame_dir,  # noqa: F821
        fetch=frame_fetcher(a), stamp_size=int(a["stamp_size"]),
        shape=tuple(a["frame_shape"]) if a.get("frame_shape") else None, mjd_range=a.get("mjd_range"),
        seasons=a.get("seasons") or None, keep_frames=bool(a["keep_frames"]),
        max_bad_fraction=float(a["max_bad_fraction"]), frame_url_template=a.get("frame_url", FRAME_URL),
        chunk=int(snakemake.wildcards.chunk),  # noqa: F821
    )
except Exception:
    log.exception("SDSS chunk %s failed (finished frames are kept: a re-run resumes)",
                  snakemake.wildcards.chunk)  # noqa: F821
    raise
