"""Embedded PLAsTiCC-like data in the Zenodo 2539456 layout (rule simulate_plasticc)."""
from transientrepro.io import setup_logging

log = setup_logging(snakemake.log[0])  # noqa: F821

import time  # noqa: E402

from transientrepro.plasticc.simulate import class_weights_from_config, simulate_plasticc  # noqa: E402

sim = snakemake.params.sim  # noqa: F821
t0 = time.time()
summary = simulate_plasticc(
    outputs=dict(snakemake.output.items()),  # noqa: F821
    reference_metadata=snakemake.input.reference,  # noqa: F821
    seed=int(sim["seed"]),
    n_train=int(sim["n_train"]),
    n_test=int(sim["n_test"]),
    n_test_files=int(sim["n_test_files"]),
    min_per_class=int(sim["min_per_class"]),
    test_ddf_fraction=float(sim["test_ddf_fraction"]),
    test_specz_fraction=float(sim["test_specz_fraction"]),
    test_class_weights=class_weights_from_config(sim.get("class_weights")),
)
log.info("simulation took %.1f s: %d train objects (%d rows), %d test objects (%d rows)", time.time() - t0,
         summary["n_train"], summary["rows_train"], summary["n_test"], summary["rows_test"])
