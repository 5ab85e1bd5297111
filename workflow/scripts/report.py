"""Snakemake adapter: combined parameter counts and the published-vs-reproduced report."""
from transientrepro.io import setup_logging
from transientrepro.report import concat_parameter_counts, write_report

log = setup_logging(snakemake.log[0])
concat_parameter_counts(snakemake.input.params, snakemake.output.params)
comp = write_report(
    snakemake.params.metrics,
    snakemake.params.tables,
    snakemake.output.params,
    snakemake.output.csv,
    snakemake.output.md,
    snakemake.params.run_name,
    out_table=snakemake.output.table,
    out_html=snakemake.output.html,
    reference_json=snakemake.input.reference[0] if snakemake.input.reference else None,
)
log.info("report: %d comparison rows -> %s", len(comp), snakemake.output.md)
