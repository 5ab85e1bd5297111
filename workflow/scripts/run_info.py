"""Snakemake adapter: the effective config and the software versions of this run (for the report)."""
from transientrepro.io import setup_logging
from transientrepro.provenance import write_run_info

log = setup_logging(snakemake.log[0])
versions = write_run_info(snakemake.params.config, snakemake.params.configfiles, snakemake.output.config,
                          snakemake.output.versions)
log.info("config -> %s; %d software versions -> %s", snakemake.output.config, len(versions),
         snakemake.output.versions)
