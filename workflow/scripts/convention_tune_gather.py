"""Best parameters of the ConvEntion optuna study (thin adapter)."""
from transientrepro.io import setup_logging

log = setup_logging(snakemake.log[0])  # noqa: F821

from transientrepro.convention.stages import run_tune_gather  # noqa: E402

sm = snakemake  # noqa: F821
best = run_tune_gather(sm.params.storage, sm.params.section, sm.output.best, sm.output.trials)
log.info("best trial %d: %s -> %.5f", best["trial"], best["params"], best["value"])
