"""Snakemake adapter: t2_ablation.csv and its per-setting summary (transientrepro.t2.ablation)."""
from transientrepro.io import setup_logging

log = setup_logging(snakemake.log[0])

from transientrepro.io import read_json, write_csv  # noqa: E402
from transientrepro.t2.ablation import gather, summary  # noqa: E402

records = [read_json(p) for p in list(snakemake.input.runs) + list(snakemake.input.reference)]
df = gather(records, snakemake.params.section, snakemake.params.gp_section)
write_csv(df, snakemake.output.csv)
summ = summary(df, snakemake.params.section, snakemake.params.gp_section)
write_csv(summ, snakemake.output.summary)
log.info("t2 ablation: %d rows\n%s", len(df), summ.round(3).to_string())
