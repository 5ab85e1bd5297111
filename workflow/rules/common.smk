# Helpers shared by every stage: paths derived from the config, target lists.
import os
from pathlib import Path

# The workflow's package (src/transientrepro) must be importable by every rule's script, in the
# local venv and in each per-rule conda env alike; exported so sbatch'ed jobs inherit it.
_SRC = str(Path(workflow.basedir) / "src")
if _SRC not in os.environ.get("PYTHONPATH", "").split(os.pathsep):
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (_SRC, os.environ.get("PYTHONPATH")) if p)

RES = config["resources_dir"]
PLASTICC_RAW = f"{RES}/plasticc"
SDSS_RAW = f"{RES}/sdss"

ENV_DATA = "../../envs/data.yaml"
ENV_GP = "../../envs/gp.yaml"
ENV_TF = "../../envs/tf.yaml"
ENV_TORCH = "../../envs/torch.yaml"
ENV_NOTEBOOK = "../../envs/notebook.yaml"


def plasticc_raw_files():
    """The Zenodo 2539456 file names this run uses (simulated or downloaded)."""
    n = 11 if config["plasticc"]["source"] == "zenodo" else config["plasticc"]["simulate"]["n_test_files"]
    names = ["plasticc_train_lightcurves.csv.gz", "plasticc_train_metadata.csv.gz", "plasticc_test_metadata.csv.gz"]
    names += [f"plasticc_test_lightcurves_{i:02d}.csv.gz" for i in range(1, n + 1)]
    return {Path(n).name.split(".")[0]: f"{PLASTICC_RAW}/{n}" for n in names}


def n_chunks():
    return config["plasticc"]["ingest"]["n_chunks"]


def all_outputs():
    """Everything `rule all` builds: each stage appends its final targets to STAGE_TARGETS."""
    return [t for targets in STAGE_TARGETS.values() for t in targets]


def figure_notebooks():
    """Executed notebooks that render the figures (each stage registers its own)."""
    return list(FIGURE_NOTEBOOKS)


STAGE_TARGETS = {}
FIGURE_NOTEBOOKS = []
