"""ConvEntion Table 1 (class counts) and Table 5 (partition counts) layouts, paper values beside."""
from transientrepro.io import setup_logging

log = setup_logging(snakemake.log[0])  # noqa: F821

import pandas as pd  # noqa: E402

from transientrepro.io import atomic_path  # noqa: E402
from transientrepro.sdss.summary import summarise  # noqa: E402

objects = pd.read_parquet(snakemake.input.objects)  # noqa: F821
classes, partitions = summarise(objects, seed=int(snakemake.params.seed),  # noqa: F821
                                uncertain_snia=str(snakemake.params.snia_uncertain))  # noqa: F821
log.info("class counts:\n%s", classes.to_string(index=False))
log.info("partition counts:\n%s", partitions.to_string(index=False))
for df, path in ((classes, snakemake.output.class_counts), (partitions, snakemake.output.partition_counts)):  # noqa: F821
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False)
