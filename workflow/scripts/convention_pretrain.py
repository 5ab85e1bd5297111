"""Pre-train ConvEntion on the photometrically typed set of one variant (thin adapter)."""
from transientrepro.io import setup_logging

log = setup_logging(snakemake.log[0])  # noqa: F821

import torch  # noqa: E402

from transientrepro.convention.stages import run_pretrain, tuned_section  # noqa: E402

sm = snakemake  # noqa: F821
torch.set_num_threads(sm.threads)
section, tuned = tuned_section(sm.params.section, sm.input.best[0] if sm.input.best else None)
info = run_pretrain(sm.input.objects, sm.input.stamps, sm.wildcards.variant, section,
                    sm.output.weights, sm.output.curves, sm.output.info, partition_seed=sm.config["seed"])
log.info("pretrained %s on %d objects in %.1f s (tuned params: %s)", sm.wildcards.variant, info["n_train"],
         info["seconds"], tuned)
