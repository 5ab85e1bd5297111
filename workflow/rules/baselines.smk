# Stage: baselines — the comparison models of ConvEntion's Tables 3-4 (PyTorch), trained with
# ConvEntion's protocol (pre-train on the photometric set, n_folds x n_ensembles fine-tuning):
# SuperNNova-style LSTM on light curves (lstm_lightcurves), CNN+GRU (Gomez et al. 2020) and
# CNN+LSTM (Carrasco-Davis et al. 2019) on ugriz or g image sequences, 4 or 3 classes.

BASE = config["baselines"]
BASE_DIR = "results/sdss/baselines"
BASE_MODEL_RE = "lstm_lightcurves|cnn_(gru|lstm)_(ugriz|g)(_3class)?"


rule baselines_train:
    input:
        objects="results/sdss/ingest/objects.parquet",
        stamps="results/sdss/ingest/stamps.h5",
        # the light-curve table only for the light-curve LSTM
        lightcurves=lambda wc: ["results/sdss/ingest/lightcurves.parquet"] if wc.model == "lstm_lightcurves" else [],
    output:
        metrics=f"{BASE_DIR}/{{model}}/metrics.json",
        predictions=f"{BASE_DIR}/{{model}}/predictions.parquet",
        curves=f"{BASE_DIR}/{{model}}/curves.csv",
        pretrain_curves=f"{BASE_DIR}/{{model}}/pretrain_curves.csv",
        pretrained=f"{BASE_DIR}/{{model}}/pretrain.pt",
        weights=expand(
            f"{BASE_DIR}/{{{{model}}}}/fold{{f}}_ens{{e}}.pt",
            f=range(BASE["train"]["n_folds"]),
            e=range(BASE["train"]["n_ensembles"]),
        ),
        params_table="results/tables/parameter_counts_baselines_{model}.csv",
    params:
        section=BASE,
        seed=config["seed"],
        snia_uncertain=config["convention"]["snia_uncertain"],
    wildcard_constraints:
        model=BASE_MODEL_RE,
    log:
        "logs/baselines/{model}.log",
    benchmark:
        "benchmarks/baselines/{model}.tsv"
    conda:
        ENV_TORCH
    threads: BASE["threads"]
    resources:
        mem_mb=stamps_mem_mb(BASE),
        runtime=BASE["runtime"],
        gpu=BASE["gpu"],
    script:
        "../scripts/baselines_train.py"


if BASE["enabled"]:
    STAGE_TARGETS["baselines"] = [
        f"{BASE_DIR}/{m}/{name}" for m in BASE["models"] for name in ("metrics.json", "predictions.parquet")
    ] + [f"results/tables/parameter_counts_baselines_{m}.csv" for m in BASE["models"]]
