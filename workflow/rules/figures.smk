# Figures: one papermill notebook per paper/dataset; the figures rule (Snakefile) gathers the PNGs.
# Light and interactive-ish: on a cluster they run on the login node.
# Every figure a notebook draws is registered here (register_figure, common.smk) with its caption in
# workflow/report/ and its report category; the notebook rule declares exactly those PNGs as outputs
# (results/figures/<group>/ belongs to that notebook) and the figures rule refuses unregistered ones.
from transientrepro.paper import published_by_model, published_totals


localrules:
    notebook_data_figures,
    notebook_t2_figures,
    notebook_convention_figures,


# --- registry: which figure, which caption, which report category ---
register_figure("data", "plasticc_class_counts", "data_plasticc_class_counts.rst", "Data", "PLAsTiCC")
register_figure("data", "gp_examples", "data_gp_examples.rst", "Data", "PLAsTiCC")
register_figure("data", "sdss_class_counts", "data_sdss_class_counts.rst", "Data", "SDSS")
SDSS_STAMP_CLASSES = ["SNIa", "AGN", "Variable"]  # one image-time-series example each
for _label in SDSS_STAMP_CLASSES:
    register_figure("data", f"stamps_{_label}", "data_stamps.rst", "Data", "SDSS")

for _v in t2_variants():
    register_figure("t2", f"{_v}_confusion", "t2_confusion.rst", "t2", _v)
    register_figure("t2", f"{_v}_roc_pr", "t2_roc_pr.rst", "t2", _v)
    register_figure("t2", f"{_v}_history", "t2_history.rst", "t2", _v)
    register_figure("t2", f"{_v}_cams", "t2_cams.rst", "t2", _v)
    if _v != "t2_noz":  # the light-curve-only model has no redshift features
        register_figure("t2", f"{_v}_redshift_share", "t2_redshift_share.rst", "t2", _v)

for _v in convention_variants():
    register_figure("convention", f"{_v}_confusion", "convention_confusion.rst", "ConvEntion", _v)
    register_figure("convention", f"{_v}_curves", "convention_curves.rst", "ConvEntion", _v)
for _b in baseline_models():
    register_figure("convention", f"baselines_{_b}_confusion", "baselines_confusion.rst", "Baselines", _b)
    register_figure("convention", f"baselines_{_b}_curves", "baselines_curves.rst", "Baselines", _b)
for _v in t2_sdss_variants():
    register_figure("convention", f"{_v}_confusion", "t2_sdss_confusion.rst", "t2 on SDSS-II", _v)
    register_figure("convention", f"{_v}_curves", "t2_sdss_curves.rst", "t2 on SDSS-II", _v)
for _metric in ["accuracy", "f1"]:
    register_figure("convention", f"published_vs_reproduced_{_metric}", "published_vs_reproduced_bars.rst",
                    "Comparison", "ConvEntion Tables 3-4")


rule notebook_data_figures:
    input:
        nb="workflow/notebooks/data_figures.ipynb",
        plasticc_counts="results/data/plasticc_class_counts.csv",
        sdss_counts="results/data/sdss_class_counts.csv",
        lightcurves="results/plasticc/ingest/lightcurves_0.parquet",
        gp="results/plasticc/gp/gp.h5",
        stamps="results/sdss/ingest/stamps.h5",
        objects="results/sdss/ingest/objects.parquet",
    output:
        nb="results/notebooks/data_figures.ipynb",
        figs=figure_outputs("data"),
    params:
        fig_dir=lambda wc: figure_dir("data"),
        stamp_classes="[" + ", ".join(SDSS_STAMP_CLASSES) + "]",
        published=published_totals(),
    log:
        "logs/figures/data_figures.log",
    conda:
        ENV_NOTEBOOK
    shell:
        "rm -f {params.fig_dir}/*.png; papermill {input.nb} {output.nb} -k python3 --log-output"
        " -p fig_dir {params.fig_dir} -p plasticc_counts {input.plasticc_counts}"
        " -p sdss_counts {input.sdss_counts} -p lightcurves {input.lightcurves} -p gp_store {input.gp}"
        " -p stamps_h5 {input.stamps} -p sdss_objects {input.objects}"
        " -y 'stamp_classes: {params.stamp_classes}' > {log} 2>&1"


rule notebook_t2_figures:
    input:
        nb="workflow/notebooks/t2_figures.ipynb",
        metrics=lambda wc: [f"results/plasticc/{v}/{f}" for v in t2_variants()
                             for f in ("metrics.json", "predictions.parquet", "history.csv", "cams.npz")],
        gp="results/plasticc/gp/gp.h5",
    output:
        nb="results/notebooks/t2_figures.ipynb",
        figs=figure_outputs("t2"),
    params:
        fig_dir=lambda wc: figure_dir("t2"),
        variants=lambda wc: "[" + ", ".join(t2_variants()) + "]",
        published=published_by_model(["t2", "t2_noz"]),
    log:
        "logs/figures/t2_figures.log",
    conda:
        ENV_NOTEBOOK
    shell:
        "rm -f {params.fig_dir}/*.png; papermill {input.nb} {output.nb} -k python3 --log-output"
        " -p fig_dir {params.fig_dir} -y 'variants: {params.variants}' -p gp_store {input.gp}"
        " > {log} 2>&1"


rule notebook_convention_figures:
    input:
        nb="workflow/notebooks/convention_figures.ipynb",
        metrics=lambda wc: [model_metrics()[k] for k in convention_variants() + baseline_models() + t2_sdss_variants()],
        curves=lambda wc: [
            str(Path(model_metrics()[k]).with_name(f))
            for k in convention_variants() + baseline_models() + t2_sdss_variants()
            for f in ("curves.csv", "pretrain_curves.csv")
        ],
        comparison="results/report/comparison.csv",
    output:
        nb="results/notebooks/convention_figures.ipynb",
        figs=figure_outputs("convention"),
    params:
        fig_dir=lambda wc: figure_dir("convention"),
        variants=lambda wc: "[" + ", ".join(convention_variants()) + "]",
        baselines=lambda wc: "[" + ", ".join(baseline_models()) + "]",
        t2_sdss=lambda wc: "[" + ", ".join(t2_sdss_variants()) + "]",
        published=published_by_model(convention_variants() + baseline_models()),
    log:
        "logs/figures/convention_figures.log",
    conda:
        ENV_NOTEBOOK
    shell:
        "rm -f {params.fig_dir}/*.png; papermill {input.nb} {output.nb} -k python3 --log-output"
        " -p fig_dir {params.fig_dir} -y 'variants: {params.variants}' -y 'baselines: {params.baselines}'"
        " -y 't2_sdss: {params.t2_sdss}' -p comparison_csv {input.comparison} > {log} 2>&1"


FIGURE_NOTEBOOKS.extend(
    [
        "results/notebooks/data_figures.ipynb",
        "results/notebooks/t2_figures.ipynb",
        "results/notebooks/convention_figures.ipynb",
    ]
)
STAGE_TARGETS["figures"] = list(FIGURE_NOTEBOOKS)
