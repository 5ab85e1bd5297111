"""Snakemake adapter: train one t2 variant (transientrepro.t2.training.run_training)."""
from transientrepro.io import setup_logging

log = setup_logging(snakemake.log[0])

from transientrepro.t2.training import run_training  # noqa: E402

run_training(
    gp_path=snakemake.input.gp,
    split_path=snakemake.input.split,
    best_params_path=snakemake.input.best,
    variant=snakemake.wildcards.variant,
    t2_config=snakemake.params.section,
    seed=int(snakemake.params.seed),
    out_model=snakemake.output.model,
    out_history=snakemake.output.history,
    out_info=snakemake.output.info,
    threads=snakemake.threads,
)
