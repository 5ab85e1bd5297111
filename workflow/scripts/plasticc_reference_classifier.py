"""Feature-based reference classifier on the t2 evaluation pool (rule plasticc_reference_classifier)."""
from transientrepro.io import setup_logging

log = setup_logging(snakemake.log[0])  # noqa: F821

import pandas as pd  # noqa: E402

from transientrepro.io import write_json  # noqa: E402
from transientrepro.plasticc.features import load_pool_lightcurves, reference_classifier, sample_pool  # noqa: E402

params = snakemake.params  # noqa: F821
meta = pd.read_parquet(snakemake.input.metadata)  # noqa: F821
pool = meta[meta["split"] == params.pool]
pool = sample_pool(pool, params.max_objects, int(params.seed))
lc = load_pool_lightcurves(list(snakemake.input.chunks), pool["object_id"].to_numpy())  # noqa: F821
result = reference_classifier(lc, pool, seed=int(params.seed), test_fraction=float(params.test_fraction),
                              n_estimators=int(params.n_estimators))
result["pool"] = params.pool
write_json(result, snakemake.output.metrics)  # noqa: F821
log.info("reference classifier: flat-weighted log-loss %.3f (chance %.3f), accuracy %.3f on %d objects",
         result["log_loss"], result["chance_log_loss"], result["accuracy"], result["n_test"])
