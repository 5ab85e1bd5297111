# Stage: t2. The time-series transformer (Allam & McEwen) in TensorFlow/Keras, per variant:
#   t2      light curves + (z, z_err) concatenated along L (config t2.concat)
#   t2_noz  light curves only
# 1. t2_tune_worker (one job per worker, wildcard worker = 0..n_workers-1): TPE trials of 5-fold
#    CV flat-weighted log-loss, all workers of a variant sharing one optuna JournalStorage study
#    (results/plasticc/tuning/<variant>/study.journal). Skipped when t2.tune is false.
# 2. t2_tune_gather: best_params.json + trials.csv (the pinned config hyperparameters when tune is false).
# 3. t2_train: model.keras, history.csv, train_info.json.
# 4. t2_evaluate: metrics.json, predictions.parquet, cams.npz, parameter-count fragment.

T2 = config["t2"]
T2_DIR = "results/plasticc"
T2_TUNE_DIR = f"{T2_DIR}/tuning/{{variant}}"
T2_WORKERS = list(range(T2.get("tuning", {}).get("n_workers", 2)))
T2_INPUTS = dict(gp="results/plasticc/gp/gp.h5", split="results/plasticc/split.parquet")
T2_VARIANT = "t2|t2_noz"


rule t2_tune_worker:
    input:
        **T2_INPUTS,
    output:
        f"{T2_TUNE_DIR}/worker_{{worker}}.json",
    params:
        section=T2,
        seed=config["seed"],
        storage=f"{T2_TUNE_DIR}/study.journal",
    wildcard_constraints:
        variant=T2_VARIANT,
        worker=r"\d+",
    priority: T2_CHAIN_PRIORITY
    threads: T2.get("threads", 2)
    resources:
        mem_mb=T2.get("mem_mb", 4000),
        runtime=T2.get("runtime", 30),
        gpu=T2.get("gpu", 0),
    log:
        "logs/t2/tune_{variant}_worker_{worker}.log",
    benchmark:
        "benchmarks/t2/tune_{variant}_worker_{worker}.tsv"
    conda:
        ENV_TF
    script:
        "../scripts/t2_tune_worker.py"


rule t2_tune_gather:
    input:
        # worker records when tuning; nothing when the hyperparameters are pinned (t2.tune: false)
        lambda wc: (
            expand(f"{T2_DIR}/tuning/{wc.variant}/worker_{{worker}}.json", worker=T2_WORKERS)
            if T2.get("tune", True)
            else []
        ),
    output:
        best=f"{T2_TUNE_DIR}/best_params.json",
        trials=f"{T2_TUNE_DIR}/trials.csv",
    params:
        section=T2,
        seed=config["seed"],
        storage=f"{T2_TUNE_DIR}/study.journal",
    wildcard_constraints:
        variant=T2_VARIANT,
    priority: T2_CHAIN_PRIORITY
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    log:
        "logs/t2/tune_{variant}_gather.log",
    conda:
        ENV_TF
    script:
        "../scripts/t2_tune_gather.py"


rule t2_train:
    input:
        **T2_INPUTS,
        best=f"{T2_TUNE_DIR}/best_params.json",
    output:
        model=f"{T2_DIR}/{{variant}}/model.keras",
        history=f"{T2_DIR}/{{variant}}/history.csv",
        info=f"{T2_DIR}/{{variant}}/train_info.json",
    params:
        section=T2,
        seed=config["seed"],
    wildcard_constraints:
        variant=T2_VARIANT,
    priority: T2_CHAIN_PRIORITY
    threads: T2.get("threads", 2)
    resources:
        mem_mb=T2.get("mem_mb", 4000),
        runtime=T2.get("runtime", 30),
        gpu=T2.get("gpu", 0),
    log:
        "logs/t2/train_{variant}.log",
    benchmark:
        "benchmarks/t2/train_{variant}.tsv"
    conda:
        ENV_TF
    script:
        "../scripts/t2_train.py"


rule t2_evaluate:
    input:
        **T2_INPUTS,
        model=f"{T2_DIR}/{{variant}}/model.keras",
        info=f"{T2_DIR}/{{variant}}/train_info.json",
    output:
        metrics=f"{T2_DIR}/{{variant}}/metrics.json",
        predictions=f"{T2_DIR}/{{variant}}/predictions.parquet",
        cams=f"{T2_DIR}/{{variant}}/cams.npz",
        param_counts="results/tables/parameter_counts_t2_{variant}.csv",
    params:
        section=T2,
        seed=config["seed"],
        run_name=config.get("run_name", ""),
    wildcard_constraints:
        variant=T2_VARIANT,
    priority: T2_CHAIN_PRIORITY
    threads: T2.get("threads", 2)
    resources:
        mem_mb=T2.get("mem_mb", 4000),
        runtime=T2.get("runtime", 30),
        gpu=T2.get("gpu", 0),
    log:
        "logs/t2/evaluate_{variant}.log",
    benchmark:
        "benchmarks/t2/evaluate_{variant}.tsv"
    conda:
        ENV_TF
    script:
        "../scripts/t2_evaluate.py"


STAGE_TARGETS["t2"] = [
    f"{T2_DIR}/{v}/{name}"
    for v in T2.get("variants", ["t2", "t2_noz"])
    for name in ("metrics.json", "predictions.parquet", "cams.npz", "model.keras", "history.csv")
] + [f"results/tables/parameter_counts_t2_{v}.csv" for v in T2.get("variants", ["t2", "t2_noz"])]
