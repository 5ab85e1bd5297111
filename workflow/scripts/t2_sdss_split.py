"""Snakemake adapter: ConvEntion's objects, partitions and folds of one (bands, task) as a table, for t2 on
SDSS (transientrepro.convention.stages.run_split_table)."""
from transientrepro.io import setup_logging

log = setup_logging(snakemake.log[0])  # noqa: F821

from transientrepro.convention.stages import run_split_table  # noqa: E402

sm = snakemake  # noqa: F821
variant = f"convention_{sm.wildcards.bands}" + ("_3class" if sm.wildcards.task == "3class" else "")
table = run_split_table(sm.input.objects, sm.input.stamps, variant, sm.params.section, sm.output.table, sm.output.info,
                        partition_seed=sm.config["seed"])
log.info("%s: %d objects, %d in the folds", variant, len(table), int((table["fold"] >= 0).sum()))
