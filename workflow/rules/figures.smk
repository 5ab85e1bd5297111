# Figures: one papermill notebook per paper/dataset; the figures rule (Snakefile) gathers the PNGs.
# Light and interactive-ish: on a cluster they run on the login node.


localrules:
    notebook_data_figures,
    notebook_t2_figures,
    notebook_convention_figures,


rule notebook_data_figures:
    input:
        nb="workflow/notebooks/data_figures.ipynb",
        plasticc_counts="results/data/plasticc_class_counts.csv",
        sdss_counts="results/data/sdss_class_counts.csv",
        lightcurves="results/plasticc/ingest/lightcurves_0.parquet",
        gp="results/plasticc/gp/gp.npz",
        stamps="results/sdss/ingest/stamps.npz",
        objects="results/sdss/ingest/objects.parquet",
    output:
        nb="results/notebooks/data_figures.ipynb",
        figs=directory("results/figures/data"),
    log:
        "logs/figures/data_figures.log",
    conda:
        ENV_NOTEBOOK
    shell:
        "papermill {input.nb} {output.nb} -k python3 --log-output"
        " -p fig_dir {output.figs} -p plasticc_counts {input.plasticc_counts}"
        " -p sdss_counts {input.sdss_counts} -p lightcurves {input.lightcurves} -p gp_npz {input.gp}"
        " -p stamps_npz {input.stamps} -p sdss_objects {input.objects} > {log} 2>&1"


rule notebook_t2_figures:
    input:
        nb="workflow/notebooks/t2_figures.ipynb",
        metrics=lambda wc: [f"results/plasticc/{v}/metrics.json" for v in t2_variants()],
        gp="results/plasticc/gp/gp.npz",
    output:
        nb="results/notebooks/t2_figures.ipynb",
        figs=directory("results/figures/t2"),
    params:
        variants=lambda wc: "[" + ", ".join(t2_variants()) + "]",
    log:
        "logs/figures/t2_figures.log",
    conda:
        ENV_NOTEBOOK
    shell:
        "papermill {input.nb} {output.nb} -k python3 --log-output"
        " -p fig_dir {output.figs} -y 'variants: {params.variants}' -p gp_npz {input.gp}"
        " > {log} 2>&1"


rule notebook_convention_figures:
    input:
        nb="workflow/notebooks/convention_figures.ipynb",
        metrics=lambda wc: [model_metrics()[k] for k in convention_variants() + baseline_models()],
        comparison="results/report/comparison.csv",
    output:
        nb="results/notebooks/convention_figures.ipynb",
        figs=directory("results/figures/convention"),
    params:
        variants=lambda wc: "[" + ", ".join(convention_variants()) + "]",
        baselines=lambda wc: "[" + ", ".join(baseline_models()) + "]",
    log:
        "logs/figures/convention_figures.log",
    conda:
        ENV_NOTEBOOK
    shell:
        "papermill {input.nb} {output.nb} -k python3 --log-output"
        " -p fig_dir {output.figs} -y 'variants: {params.variants}' -y 'baselines: {params.baselines}'"
        " -p comparison_csv {input.comparison} > {log} 2>&1"


FIGURE_NOTEBOOKS.extend(
    [
        "results/notebooks/data_figures.ipynb",
        "results/notebooks/t2_figures.ipynb",
        "results/notebooks/convention_figures.ipynb",
    ]
)
STAGE_TARGETS["figures"] = list(FIGURE_NOTEBOOKS)
