# Helpers shared by every stage: paths derived from the config, target lists.
import os
import re
import sys
from pathlib import Path

# The workflow's package (src/transientrepro) must be importable by every rule's script, in the
# local venv and in each per-rule conda env alike; exported so sbatch'ed jobs inherit it.
_SRC = str(Path(workflow.basedir) / "src")
_PYTHONPATH = os.environ.get("PYTHONPATH", "")
if _SRC not in _PYTHONPATH.split(os.pathsep):
    os.environ.update(PYTHONPATH=os.pathsep.join(p for p in (_SRC, _PYTHONPATH) if p))
if _SRC not in sys.path:  # the rule files import it too (this checkout's copy, not another install's)
    sys.path.insert(0, _SRC)

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


def t2_sdss_variants():
    """t2 on the SDSS light curves (workflow/rules/t2_sdss.smk); [] when t2_sdss.enabled is false."""
    sec = config.get("t2_sdss", {})
    return list(sec.get("variants", [])) if sec.get("enabled", True) else []


T2S_VARIANT_RE = "t2_sdss_(ugriz|g)(_3class)?(_noz)?"


def t2_sdss_parts(variant):
    """(bands, task) of a t2_sdss variant: which GP arrays and which ConvEntion split it uses."""
    m = re.fullmatch(T2S_VARIANT_RE, variant)
    return m.group(1), ("3class" if m.group(2) else "4class")


def baseline_models():
    if not config["baselines"].get("enabled", True):
        return []
    return list(config["baselines"].get("models", []))


def model_metrics():
    """Model key -> metrics.json for every model of this run (keys match paper_numbers.yaml)."""
    m = {v: f"results/plasticc/{v}/metrics.json" for v in t2_variants()}
    m.update({v: f"results/sdss/{v}/metrics.json" for v in convention_variants()})
    m.update({b: f"results/sdss/baselines/{b}/metrics.json" for b in baseline_models()})
    m.update({v: f"results/sdss/t2/{v}/metrics.json" for v in t2_sdss_variants()})
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
# each data table's caption (workflow/report/) and subcategory in the report's Data category
DATA_TABLE_CAPTIONS = {
    "results/data/plasticc_class_counts.csv": ("table_plasticc_class_counts.rst", "PLAsTiCC"),
    "results/data/sdss_class_counts.csv": ("table_sdss_class_counts.rst", "SDSS"),
    "results/data/sdss_partition_counts.csv": ("table_sdss_partition_counts.rst", "SDSS"),
}


# --- the HTML report (`snakemake --report results/report.html`, `make report`) ---
# Every figure and key table enters the report through report_item(): a report()-flagged path with
# its caption file workflow/report/<caption> (reStructuredText, rendered by Jinja first: it can use
# `snakemake.params`, `snakemake.config`, `snakemake.input`/`output` of the rule that writes or reads
# the item) and its category (one of REPORT_CATEGORIES, the report's menu), optionally a subcategory.
# The report lists an item under its path (no labels: the report UI turns a second label into a
# toggle that hides entries). Figures of a notebook are declared with register_figure(group, name,
# ...) -> results/figures/<group>/<name>.png; the notebook rule lists figure_outputs(group) as its
# outputs and the figures rule gathers registered_figures() into figures/<group>/. A figure written
# elsewhere (e.g. by an ablation) is its writer's output wrapped in report_item(...), and it is in
# the report whenever its writer is in the DAG the report is built for (README, "The report").
REPORT_CAPTIONS = Path(workflow.basedir) / "workflow" / "report"
REPORT_CATEGORIES = ("Data", "t2", "ConvEntion", "Baselines", "t2 on SDSS-II", "Comparison", "Run")
FIGURES = {}  # group -> {results/figures/<group>/<name>.png: the report()-flagged path}


def report_item(path, caption, category, subcategory=None):
    """``path`` flagged for the HTML report, with caption ``workflow/report/<caption>``."""
    if category not in REPORT_CATEGORIES:
        raise ValueError(f"report category {category!r} of {path} is not one of {REPORT_CATEGORIES}")
    cap = REPORT_CAPTIONS / caption
    if not cap.is_file():
        raise FileNotFoundError(f"caption {cap} of report item {path} does not exist")
    return report(path, caption=str(cap), category=category, subcategory=subcategory)


def register_figure(group, name, caption, category, subcategory=None):
    """Declare the figure results/figures/<group>/<name>.png (drawn by the <group> notebook): an
    output of that notebook's rule, gathered into figures/<group>/ and shown in the report."""
    path = f"{figure_dir(group)}/{name}.png"
    if path in FIGURES.get(group, {}):
        raise ValueError(f"figure {path} registered twice")
    FIGURES.setdefault(group, {})[path] = report_item(path, caption, category, subcategory)
    return path


def figure_dir(group):
    """Where the <group> notebook draws its figures (its own directory)."""
    return f"results/figures/{group}"


def figure_outputs(group):
    """The report()-flagged figures of one notebook group (the outputs of its notebook rule; none
    when the config runs no model of that group, e.g. ``t2.variants: []``)."""
    return list(FIGURES.get(group, {}).values())


def registered_figures():
    """Every registered figure path (the inputs of the figures rule)."""
    return [p for group in FIGURES.values() for p in group]


def data_table_items():
    """The data tables, flagged for the report's Data category (read by the report rule)."""
    items = []
    for path in DATA_TABLES.values():
        caption, subcategory = DATA_TABLE_CAPTIONS[path]
        items.append(report_item(path, caption, "Data", subcategory))
    return items


# The PLAsTiCC -> GP -> t2 chain is the longest of the run; its jobs go first when cores are free
# (the SDSS/ConvEntion jobs fill the gaps), which keeps the embedded `make run` within its budget.
T2_CHAIN_PRIORITY = 10
# ConvEntion's pre-train -> fine-tune jobs are the next longest (the fine-tuning the longest single jobs
# after t2's training): they go before the baselines and t2 on SDSS, which are short and fill the gaps,
# so the run does not end on one long fine-tuning job with the other core idle.
CONV_CHAIN_PRIORITY = 5


def array_file_mb(path):
    """Size (MB) of a file, 0 while it does not exist yet (the stamp store is uncompressed HDF5: its
    size is its arrays' size)."""
    import os

    path = str(path)
    return os.path.getsize(path) / 2**20 if os.path.exists(path) else 0


def stamps_mem_mb(section):
    """mem_mb of a job that reads the stamp store (input ``stamps``, results/sdss/ingest/stamps.h5):
    the section's ``mem_mb`` at least. The job normalises its selected images into memory once when
    they are at most ``stream_above_mb`` (so up to min(store size, stream_above_mb) MB are held, added
    here); above it every sequence is read from the store when fetched, and only the per-stamp 1-D
    arrays (~21 bytes a stamp) and 16 MB blocks are held, inside ``mem_mb``. Sized from the store when
    the job is scheduled."""

    def mem_mb(wildcards, input):
        size = array_file_mb(input.stamps)
        limit = section.get("stream_above_mb", 2048)
        held = size if limit is None else min(size, float(limit))
        return max(int(section.get("mem_mb", 4000)), int(held) + 1000)

    return mem_mb
