"""One run of the ConvEntion ablation (recipe or one switch flipped) for one seed (thin adapter)."""
from transientrepro.io import setup_logging

log = setup_logging(snakemake.log[0])  # noqa: F821

from pathlib import Path  # noqa: E402

import torch  # noqa: E402

from transientrepro.convention.ablation import run_ablation  # noqa: E402

sm = snakemake  # noqa: F821
torch.set_num_threads(sm.threads)
s = run_ablation(sm.input.objects, sm.input.stamps, sm.params.section, sm.wildcards.run, int(sm.wildcards.seed),
                 Path(sm.output.summary).parent, partition_seed=int(sm.params.partition_seed))
log.info("%s seed %s: accuracy %.4f f1_macro %.4f balanced_accuracy %.4f", sm.wildcards.run, sm.wildcards.seed,
         s["accuracy"], s["f1_macro"], s["balanced_accuracy"])
