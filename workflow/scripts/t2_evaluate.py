"""Snakemake adapter: evaluate one trained t2 variant (transientrepro.t2.evaluate.run_evaluation)."""
from transientrepro.io import setup_logging

log = setup_logging(snakemake.log[0])

from transientrepro.t2.evaluate import run_evaluation  # noqa: E402

run_evaluation(
    gp_path=snakemake.input.gp,
    split_path=snakemake.input.split,
    model_path=snakemake.input.model,
    train_info_path=snakemake.input.info,
    variant=snakemake.wildcards.variant,
    t2_config=snakemake.params.section,
    seed=int(snakemake.params.seed),
    out_metrics=snakemake.output.metrics,
    out_predictions=snakemake.output.predictions,
    out_cams=snakemake.output.cams,
    out_param_counts=snakemake.output.param_counts,
    threads=snakemake.threads,
    run_name=snakemake.params.run_name,
)
