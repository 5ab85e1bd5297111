# Helpers shared by every stage: paths derived from the config, target lists.
import os
from pathlib import Path

# The workflow's package (src/transientrepro) must be importable by every rule's script, in the
# local venv and in each per-rule conda env alike; exported so sbatch'ed jobs inherit it.
_SRC = str(Path(workflow.basedir) / "src")
_PYTHONPATH = os.environ.get("PYTHONPATH", "")
if _SRC not in _PYTHONPATH.split(os.pathsep):
    os.environ.update(PYTHONPATH=os.pathsep.join(p for p in (_SRC, _PYTHONPATH) if p))

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
    """The targets of the all rule: each stage registers its final outputs in STAGE_TARGETS."""
    return [t for targets in STAGE_TARGETS.values() for t in targets]


def figure_notebooks():
    """Executed notebooks that render the figures (each stage registers its own)."""
    return list(FIGURE_NOTEBOOKS)


STAGE_TARGETS = {}
FIGURE_NOTEBOOKS = []


# --- model lists and report inputs (used by report.smk and figures.smk) ---


def t2_variants():
    return list(config["t2"]["variants"])


def convention_variants():
    return list(config["convention"].get("variants", []))


def baseline_models():
    if not config["baselines"].get("enabled", True):
        return []
    return list(config["baselines"].get("models", []))


def model_metrics():
    """Model key -> metrics.json for every model of this run (keys match paper_numbers.yaml)."""
    m = {v: f"results/plasticc/{v}/metrics.json" for v in t2_variants()}
    m.update({v: f"results/sdss/{v}/metrics.json" for v in convention_variants()})
    m.update({b: f"results/sdss/baselines/{b}/metrics.json" for b in baseline_models()})
    return m


def parameter_count_fragments():
    frags = [f"results/tables/parameter_counts_t2_{v}.csv" for v in t2_variants()]
    frags += [f"results/tables/parameter_counts_{v}.csv" for v in convention_variants()]  # v = convention_*
    frags += [f"results/tables/parameter_counts_baselines_{b}.csv" for b in baseline_models()]
    return frags


DATA_TABLES = {
    "PLAsTiCC classes (t2 Table 1)": "results/data/plasticc_class_counts.csv",
    "SDSS classes (ConvEntion Table 1)": "results/data/sdss_class_counts.csv",
    "SDSS partitions (ConvEntion Table 5)": "results/data/sdss_partition_counts.csv",
}
