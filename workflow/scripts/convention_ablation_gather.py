"""Gather the ConvEntion ablation runs into results/sdss/ablation/convention_ablation.csv (thin adapter)."""
from transientrepro.io import setup_logging

log = setup_logging(snakemake.log[0])  # noqa: F821

from transientrepro.convention.ablation import write_tables  # noqa: E402

sm = snakemake  # noqa: F821
table = write_tables(list(sm.input.summaries), sm.params.section, sm.output.csv, sm.output.details, sm.output.windows,
                     sm.input.objects, sm.input.stamps, partition_seed=int(sm.params.partition_seed))
log.info("ablation (mean over seeds):\n%s",
         table.groupby(["switch", "setting"], sort=False)[["accuracy", "f1_macro", "balanced_accuracy"]].mean().to_string())
