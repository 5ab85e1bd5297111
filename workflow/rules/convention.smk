# Stage: convention — ConvEntion (Bairouk et al. 2023) on the SDSS image stamps (PyTorch).
# Per variant (convention_<ugriz|g>[_3class]): pre-train on the photometrically typed set, then
# fine-tune with n_folds x n_ensembles on the spectroscopic set. Optional optuna tuning first.

CONV = config["convention"]
CONV_DIR = "results/sdss"
CONV_TUNE_DIR = "results/sdss/convention_tuning"
CONV_VARIANT_RE = "convention_(ugriz|g)(_3class)?"
# what the scripts see of the section: scheduling keys (gpu, threads, variants) do not change results,
# so they are left out of params (a change there does not re-run training); nor does the ablation's own
# sub-section (workflow/rules/convention_ablation.smk)
CONV_RUN = {k: v for k, v in CONV.items() if k not in ("gpu", "threads", "variants", "ablation")}
CONV_TRAIN = {k: v for k, v in CONV_RUN.items() if k != "tuning"}
# the tuning study's best parameters are an input of training only when convention.tune is true
CONV_BEST = [f"{CONV_TUNE_DIR}/best_params.json"] if CONV.get("tune", False) else []


rule convention_tune_worker:
    input:
        objects="results/sdss/ingest/objects.parquet",
        stamps="results/sdss/ingest/stamps.h5",
    output:
        done=f"{CONV_TUNE_DIR}/worker_{{worker}}.json",
    params:
        section=CONV_RUN,
        storage=f"{CONV_TUNE_DIR}/study.journal",
    wildcard_constraints:
        worker=r"\d+",
    log:
        "logs/convention/tune_worker_{worker}.log",
    benchmark:
        "benchmarks/convention/tune_worker_{worker}.tsv"
    conda:
        ENV_TORCH
    threads: CONV["threads"]
    resources:
        mem_mb=stamps_mem_mb(CONV),
        runtime=60,
        gpu=CONV["gpu"],
    script:
        "../scripts/convention_tune_worker.py"


rule convention_tune_gather:
    input:
        expand(f"{CONV_TUNE_DIR}/worker_{{worker}}.json", worker=range(CONV["tuning"]["n_workers"])),
    output:
        best=f"{CONV_TUNE_DIR}/best_params.json",
        trials=f"{CONV_TUNE_DIR}/trials.csv",
    params:
        section=CONV_RUN,
        storage=f"{CONV_TUNE_DIR}/study.journal",
    log:
        "logs/convention/tune_gather.log",
    conda:
        ENV_TORCH
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    script:
        "../scripts/convention_tune_gather.py"


rule convention_pretrain:
    input:
        objects="results/sdss/ingest/objects.parquet",
        stamps="results/sdss/ingest/stamps.h5",
        best=CONV_BEST,
    output:
        weights=f"{CONV_DIR}/{{variant}}/pretrain.pt",
        curves=f"{CONV_DIR}/{{variant}}/pretrain_curves.csv",
        info=f"{CONV_DIR}/{{variant}}/pretrain.json",
    params:
        section=CONV_TRAIN,
    wildcard_constraints:
        variant=CONV_VARIANT_RE,
    log:
        "logs/convention/pretrain_{variant}.log",
    benchmark:
        "benchmarks/convention/pretrain_{variant}.tsv"
    conda:
        ENV_TORCH
    priority: CONV_CHAIN_PRIORITY
    threads: CONV["threads"]
    resources:
        mem_mb=stamps_mem_mb(CONV),
        runtime=240,
        gpu=CONV["gpu"],
    script:
        "../scripts/convention_pretrain.py"


rule convention_finetune:
    input:
        objects="results/sdss/ingest/objects.parquet",
        stamps="results/sdss/ingest/stamps.h5",
        pretrained=f"{CONV_DIR}/{{variant}}/pretrain.pt",
        pretrain_info=f"{CONV_DIR}/{{variant}}/pretrain.json",
        best=CONV_BEST,
    output:
        metrics=f"{CONV_DIR}/{{variant}}/metrics.json",
        predictions=f"{CONV_DIR}/{{variant}}/predictions.parquet",
        curves=f"{CONV_DIR}/{{variant}}/curves.csv",
        weights=expand(
            "results/sdss/{{variant}}/fold{f}_ens{e}.pt",
            f=range(CONV["train"]["n_folds"]),
            e=range(CONV["train"]["n_ensembles"]),
        ),
        params_table="results/tables/parameter_counts_{variant}.csv",
    params:
        section=CONV_TRAIN,
    wildcard_constraints:
        variant=CONV_VARIANT_RE,
    log:
        "logs/convention/finetune_{variant}.log",
    benchmark:
        "benchmarks/convention/finetune_{variant}.tsv"
    conda:
        ENV_TORCH
    priority: CONV_CHAIN_PRIORITY
    threads: CONV["threads"]
    resources:
        mem_mb=stamps_mem_mb(CONV),
        runtime=720,
        gpu=CONV["gpu"],
    script:
        "../scripts/convention_finetune.py"


STAGE_TARGETS["convention"] = [
    f"{CONV_DIR}/{v}/{name}" for v in CONV["variants"] for name in ("metrics.json", "predictions.parquet")
] + [f"results/tables/parameter_counts_{v}.csv" for v in CONV["variants"]]
