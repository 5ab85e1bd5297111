"""Representative (class x redshift-bin stratified) train/test split (rule split)."""
from transientrepro.io import setup_logging

log = setup_logging(snakemake.log[0])  # noqa: F821

from transientrepro.split import run_split  # noqa: E402

report = run_split(
    gp_store=snakemake.input.gp,  # noqa: F821
    out_parquet=snakemake.output.split,  # noqa: F821
    out_summary=snakemake.output.summary,  # noqa: F821
    test_fraction=float(snakemake.params.test_fraction),  # noqa: F821
    n_bins=int(snakemake.params.redshift_bins),  # noqa: F821
    seed=int(snakemake.params.seed),  # noqa: F821
)
log.info("split: train %d, test %d; redshift KS statistic %.3f (p=%.3f); classes missing from test: %s",
         report["n"]["train"], report["n"]["test"], report["ks_statistic"], report["ks_pvalue"],
         report["classes_missing_from_test"])
