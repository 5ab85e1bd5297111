# Reproduce t2 (Allam & McEwen) and ConvEntion (Bairouk et al. 2023) from raw data to figures.
#   snakemake --cores 2                      embedded default (config/config.yaml)
#   snakemake --configfile config/paper.yaml --profile slurm    full scale on a cluster
#   snakemake figures/                       every figure (papermill notebooks)
#   snakemake --report results/report.html   one HTML file: every figure and table, captioned
from snakemake.utils import min_version, validate

min_version("9.0")


configfile: "config/config.yaml"


validate(config, "config/schema.yaml")


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/download.smk"
include: "workflow/rules/plasticc_data.smk"
include: "workflow/rules/sdss_data.smk"
include: "workflow/rules/summaries.smk"
include: "workflow/rules/gp.smk"
include: "workflow/rules/t2.smk"
include: "workflow/rules/t2_ablation.smk"
include: "workflow/rules/convention.smk"
include: "workflow/rules/convention_ablation.smk"
include: "workflow/rules/baselines.smk"
include: "workflow/rules/t2_sdss.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/figures.smk"


localrules:
    all,
    figures,


rule all:
    input:
        all_outputs(),
        "figures",


rule figures:
    input:
        notebooks=figure_notebooks(),
        figures=registered_figures(),
    output:
        directory("figures"),
    log:
        "logs/figures/figures.log",
    conda:
        "envs/notebook.yaml"
    script:
        "workflow/scripts/collect_figures.py"
