"""Train one baseline of ConvEntion Tables 3-4 with ConvEntion's protocol (thin adapter)."""
from transientrepro.io import setup_logging

log = setup_logging(snakemake.log[0])  # noqa: F821

from pathlib import Path  # noqa: E402

import torch  # noqa: E402

from transientrepro.baselines.run import run_baseline  # noqa: E402

sm = snakemake  # noqa: F821
torch.set_num_threads(sm.threads)
lc = sm.input.lightcurves
lc = lc if isinstance(lc, str) else (lc[0] if len(lc) else None)  # only lstm_lightcurves has one
m = run_baseline(sm.wildcards.model, sm.input.objects, sm.input.stamps, lc, sm.params.section,
                 Path(sm.output.metrics).parent, sm.output.params_table, seed=int(sm.params.seed),
                 snia_uncertain=str(sm.params.snia_uncertain))
log.info("%s: accuracy %.4f +- %.4f, f1_macro %.4f +- %.4f, %d params (paper settings %d), %.1f s", sm.wildcards.model,
         m["accuracy"], m["accuracy_std"], m["f1_macro"], m["f1_macro_std"], m["n_params"], m["n_params_paper_settings"],
         m["seconds"]["total"])
