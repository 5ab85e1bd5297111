# Report: published numbers beside reproduced ones; the combined parameter-count table.


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
    frags += [f"results/tables/parameter_counts_convention_{v}.csv" for v in convention_variants()]
    frags += [f"results/tables/parameter_counts_baselines_{b}.csv" for b in baseline_models()]
    return frags


DATA_TABLES = {
    "PLAsTiCC classes (t2 Table 1)": "results/data/plasticc_class_counts.csv",
    "SDSS classes (ConvEntion Table 1)": "results/data/sdss_class_counts.csv",
    "SDSS partitions (ConvEntion Table 5)": "results/data/sdss_partition_counts.csv",
}


rule report:
    input:
        metrics=lambda wc: list(model_metrics().values()),
        params=lambda wc: parameter_count_fragments(),
        tables=list(DATA_TABLES.values()),
    output:
        params="results/tables/parameter_counts.csv",
        csv="results/report/comparison.csv",
        md="results/report/report.md",
    params:
        metrics=lambda wc: model_metrics(),
        tables=DATA_TABLES,
        run_name=config["run_name"],
    log:
        "logs/report/report.log",
    conda:
        ENV_DATA
    script:
        "../scripts/report.py"


STAGE_TARGETS["report"] = rules.report.output
