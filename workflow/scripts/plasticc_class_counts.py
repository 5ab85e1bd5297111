"""t2 Table 1 layout: objects per class in the ingested data vs the paper (rule plasticc_class_counts)."""
from transientrepro.io import setup_logging

log = setup_logging(snakemake.log[0])  # noqa: F821

import pandas as pd  # noqa: E402

from transientrepro.io import atomic_path  # noqa: E402
from transientrepro.plasticc.summary import class_count_table  # noqa: E402

meta = pd.read_parquet(snakemake.input.metadata, columns=["object_id", "target", "split"])  # noqa: F821
table = class_count_table(meta)
with atomic_path(snakemake.output.counts) as tmp:  # noqa: F821
    table.to_csv(tmp, index=False)
log.info("class counts:\n%s", table.to_string(index=False))
