"""The SDSS frame download plan (rule sdss_plan): plan.csv, one chunk_<i>.csv per chunk job, and the
summary (frames, TB, hours), printed and written; logic in transientrepro.sdss.plan."""
from transientrepro.io import setup_logging

log = setup_logging(snakemake.log[0])  # noqa: F821

from pathlib import Path  # noqa: E402

from transientrepro.io import atomic_path, write_json  # noqa: E402
from transientrepro.sdss.archive import read_master_table, select_objects  # noqa: E402
from transientrepro.sdss.plan import format_summary, make_plan, write_plan  # noqa: E402

inp, out, a = snakemake.input, snakemake.output, snakemake.params.archive  # noqa: F821


def optional(name):
    v = list(getattr(inp, name, []) or [])
    return v[0] if v else None


try:
    master = read_master_table(inp.master, expected_rows=a.get("master_rows"))
    objects = select_objects(master, classifications=a.get("classifications") or None,
                             max_objects=a.get("max_objects"), seed=int(snakemake.params.seed))  # noqa: F821
    plan, summary = make_plan(objects, a, window_flist=optional("window_flist"), frame_list=optional("frame_list"),
                              run_list=optional("run_list"))
    write_plan(plan, out.plan, list(out.chunks))
    write_json(summary, out.summary)
    text = format_summary(summary)
    with atomic_path(out.text) as tmp:
        Path(tmp).write_text(text + "\n")
except Exception:
    log.exception("SDSS download plan failed")
    raise
log.info("plan written to %s", out.plan)
print(text, flush=True)
