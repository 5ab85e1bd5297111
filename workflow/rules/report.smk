# Report: published numbers beside reproduced ones; the combined parameter-count table; what the run
# ran with. Every table here is an item of the HTML report (report_item, common.smk; captions in
# workflow/report/): `snakemake --report results/report.html` after the run (`make report`).

rule report:
    input:
        metrics=lambda wc: list(model_metrics().values()),
        params=lambda wc: parameter_count_fragments(),
        tables=data_table_items(),
        reference=lambda wc: ["results/data/plasticc_reference_classifier.json"] if t2_variants() else [],
    output:
        params=report_item("results/tables/parameter_counts.csv", "table_parameter_counts.rst", "Comparison", "Tables"),
        csv=report_item("results/report/comparison.csv", "table_comparison_csv.rst", "Comparison", "Tables"),
        md=report_item("results/report/report.md", "report_md.rst", "Comparison", "Tables"),
        table=report_item("results/report/published_vs_reproduced.csv", "table_published_vs_reproduced.rst",
                          "Comparison", "Tables"),
        html=report_item("results/report/tables.html", "tables_html.rst", "Comparison", "Tables"),
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


localrules:
    run_info,


rule run_info:
    output:
        config=report_item("results/report/config.yaml", "run_config.rst", "Run"),
        versions=report_item("results/report/software_versions.csv", "run_versions.rst", "Run"),
    params:
        config=config,
        configfiles=[str(f) for f in workflow.configfiles],
    log:
        "logs/report/run_info.log",
    conda:
        ENV_DATA
    script:
        "../scripts/run_info.py"


STAGE_TARGETS["report"] = list(rules.report.output) + list(rules.run_info.output)
