"""Feature-based reference classifier on t2's split (rule plasticc_reference_classifier): trained on
t2's training objects, scored on t2's test objects (split.parquet), predictions written per object."""
from transientrepro.io import setup_logging

log = setup_logging(snakemake.log[0])  # noqa: F821

import pandas as pd  # noqa: E402

from transientrepro.io import write_json, write_parquet  # noqa: E402
from transientrepro.plasticc.features import load_pool_lightcurves, reference_on_split, sample_pool  # noqa: E402

params = snakemake.params  # noqa: F821
split = pd.read_parquet(snakemake.input.split)  # noqa: F821
meta = pd.read_parquet(snakemake.input.metadata)  # noqa: F821
meta = meta[meta["object_id"].isin(split["object_id"])]
meta = sample_pool(meta, params.max_objects, int(params.seed))
split = split[split["object_id"].isin(meta["object_id"])]
lc = load_pool_lightcurves(list(snakemake.input.chunks), meta["object_id"].to_numpy())  # noqa: F821
result, predictions = reference_on_split(lc, meta, split, seed=int(params.seed), n_estimators=int(params.n_estimators))
write_parquet(predictions, snakemake.output.predictions)  # noqa: F821
write_json(result, snakemake.output.metrics)  # noqa: F821
log.info("reference classifier on t2's test objects: flat-weighted log-loss %.3f (chance %.3f), accuracy %.3f, "
         "balanced accuracy %.3f on %d objects", result["log_loss"], result["chance_log_loss"], result["accuracy"],
         result["balanced_accuracy"], result["n_test"])
