"""Fine-tune ConvEntion with k-fold CV x ensembles for one variant and write its outputs (thin adapter)."""
from transientrepro.io import setup_logging

log = setup_logging(snakemake.log[0])  # noqa: F821

from pathlib import Path  # noqa: E402

import torch  # noqa: E402

from transientrepro.convention.stages import run_finetune, tuned_section  # noqa: E402

sm = snakemake  # noqa: F821
torch.set_num_threads(sm.threads)
section, tuned = tuned_section(sm.params.section, sm.input.best[0] if sm.input.best else None)
m = run_finetune(sm.input.objects, sm.input.stamps, sm.wildcards.variant, section, sm.input.pretrained,
                 Path(sm.output.metrics).parent, sm.output.params_table, sm.input.pretrain_info, tuned, partition_seed=sm.config["seed"])
log.info("%s: accuracy %.4f +- %.4f, f1_macro %.4f +- %.4f, %d params (paper settings %d)", sm.wildcards.variant,
         m["accuracy"], m["accuracy_std"], m["f1_macro"], m["f1_macro_std"], m["n_params"], m["n_params_paper_settings"])
