"""One optuna worker of the ConvEntion hyperparameter search (thin adapter)."""
from transientrepro.io import setup_logging

log = setup_logging(snakemake.log[0])  # noqa: F821

import torch  # noqa: E402

from transientrepro.convention.stages import run_tune_worker  # noqa: E402

sm = snakemake  # noqa: F821
torch.set_num_threads(sm.threads)
info = run_tune_worker(sm.input.objects, sm.input.stamps, sm.params.section, sm.params.storage,
                       int(sm.wildcards.worker), sm.output.done, partition_seed=sm.config["seed"])
log.info("worker %s ran trials %s in %.1f s", sm.wildcards.worker, info["trials"], info["seconds"])
