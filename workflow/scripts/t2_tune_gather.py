"""Snakemake adapter: best t2 hyperparameters of a variant (tuned, or pinned from the config)."""
from transientrepro.io import setup_logging

log = setup_logging(snakemake.log[0])

from transientrepro.t2.tuning import gather_tuning  # noqa: E402

record = gather_tuning(
    variant=snakemake.wildcards.variant,
    t2_config=snakemake.params.section,
    seed=int(snakemake.params.seed),
    storage_path=snakemake.params.storage,
    out_best=snakemake.output.best,
    out_trials=snakemake.output.trials,
)
log.info("%s hyperparameters (%s): %s", snakemake.wildcards.variant, record["source"], record["hyperparameters"])
