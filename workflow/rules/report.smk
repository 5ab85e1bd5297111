# Report: published numbers beside reproduced ones; the combined parameter-count table.


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
