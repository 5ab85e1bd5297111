"""Snakemake adapter: the reference classifier on the t2 ablation's training subset and test objects."""
from transientrepro.io import setup_logging

log = setup_logging(snakemake.log[0])

from transientrepro.io import write_json  # noqa: E402
from transientrepro.t2.ablation import reference_row  # noqa: E402

rec = reference_row(
    metadata_path=snakemake.input.metadata,
    chunk_paths=list(snakemake.input.chunks),
    split_path=snakemake.input.split,
    gp_path=snakemake.input.gp,
    t2_section=snakemake.params.section,
    n_train=int(snakemake.wildcards.n),
    seed=int(snakemake.wildcards.seed),
)
log.info("reference n=%d seed=%d: log-loss %.4f", rec["n_train"], rec["seed"], rec["log_loss"])
write_json(rec, snakemake.output[0])
