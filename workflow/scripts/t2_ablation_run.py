"""Snakemake adapter: one t2 ablation run (transientrepro.t2.ablation.run_one)."""
from transientrepro.io import setup_logging

log = setup_logging(snakemake.log[0])

from transientrepro.io import write_json  # noqa: E402
from transientrepro.t2.ablation import run_one  # noqa: E402

wc = snakemake.wildcards
rec = run_one(
    gp_paths=dict(snakemake.params.gp_paths),
    split_path=snakemake.input.split,
    t2_section=snakemake.params.section,
    gp_section=snakemake.params.gp_section,
    run=wc.run,
    n_train=int(wc.n),
    seed=int(wc.seed),
    threads=snakemake.threads,
)
write_json(rec, snakemake.output[0])
