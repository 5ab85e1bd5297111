# Stage: t2_sdss — t2 on the SDSS-II light curves beside ConvEntion (a new comparison; issue 12).
# GP of the SDSS light curves per band set (the run's gp: settings, SDSS effective wavelengths), the
# split table of ConvEntion's objects / Table 5 partitions / folds written by ConvEntion's own data code
# (PyTorch env), then one TensorFlow job per variant t2_sdss_<ugriz|g>[_3class][_noz]: pre-train on
# the photometrically typed objects, fine-tune fold by fold on ConvEntion's folds.

T2S = config.get("t2_sdss", {})
T2S_DIR = "results/sdss/t2"
# scheduling keys do not change results: left out of params (a change there does not re-run training)
T2S_RUN = {k: v for k, v in T2S.items() if k not in ("gpu", "threads", "variants", "enabled", "mem_mb", "runtime")}


rule t2_sdss_gp:
    input:
        objects="results/sdss/ingest/objects.parquet",
        lightcurves="results/sdss/ingest/lightcurves.parquet",
    output:
        npz=f"{T2S_DIR}/gp_{{bands}}.npz",
        failures=f"{T2S_DIR}/gp_failures_{{bands}}.csv",
        summary=f"{T2S_DIR}/gp_summary_{{bands}}.json",
    params:
        gp=config["gp"],
        detection_snr=T2S.get("detection_snr", 5.0),
    wildcard_constraints:
        bands="ugriz|g",
    threads: 1
    resources:
        mem_mb=config["gp"].get("chunk_mem_mb", 2000),
        runtime=config["gp"].get("chunk_runtime", 30),
    log:
        "logs/t2_sdss/gp_{bands}.log",
    benchmark:
        "benchmarks/t2_sdss/gp_{bands}.tsv"
    conda:
        ENV_GP
    script:
        "../scripts/t2_sdss_gp.py"


rule t2_sdss_split:
    input:
        objects="results/sdss/ingest/objects.parquet",
        stamps="results/sdss/ingest/stamps.h5",
    output:
        table=f"{T2S_DIR}/split_{{bands}}_{{task}}.parquet",
        info=f"{T2S_DIR}/split_{{bands}}_{{task}}.json",
    params:
        section=CONV_TRAIN,
    wildcard_constraints:
        bands="ugriz|g",
        task="4class|3class",
    threads: 1
    resources:
        mem_mb=stamps_mem_mb(CONV),
        runtime=30,
    log:
        "logs/t2_sdss/split_{bands}_{task}.log",
    benchmark:
        "benchmarks/t2_sdss/split_{bands}_{task}.tsv"
    conda:
        ENV_TORCH
    script:
        "../scripts/t2_sdss_split.py"


rule t2_sdss_train:
    input:
        gp=lambda wc: f"{T2S_DIR}/gp_{t2_sdss_parts(wc.variant)[0]}.npz",
        split=lambda wc: "{0}/split_{1}_{2}.parquet".format(T2S_DIR, *t2_sdss_parts(wc.variant)),
        split_info=lambda wc: "{0}/split_{1}_{2}.json".format(T2S_DIR, *t2_sdss_parts(wc.variant)),
    output:
        metrics=f"{T2S_DIR}/{{variant}}/metrics.json",
        predictions=f"{T2S_DIR}/{{variant}}/predictions.parquet",
        curves=f"{T2S_DIR}/{{variant}}/curves.csv",
        pretrain_curves=f"{T2S_DIR}/{{variant}}/pretrain_curves.csv",
        weights=f"{T2S_DIR}/{{variant}}/pretrain.weights.h5",
    params:
        section=T2S_RUN,
        t2={k: v for k, v in config["t2"].items() if k not in ("variants", "tune", "tuning", "ablation", "threads", "gpu", "mem_mb", "runtime")},
        seed=config["seed"],
    wildcard_constraints:
        variant=T2S_VARIANT_RE,
    threads: T2S.get("threads", 1)
    resources:
        mem_mb=T2S.get("mem_mb", 2000),
        runtime=T2S.get("runtime", 30),
        gpu=T2S.get("gpu", 0),
    log:
        "logs/t2_sdss/{variant}.log",
    benchmark:
        "benchmarks/t2_sdss/{variant}.tsv"
    conda:
        ENV_TF
    script:
        "../scripts/t2_sdss_train.py"


STAGE_TARGETS["t2_sdss"] = [f"{T2S_DIR}/{v}/metrics.json" for v in t2_sdss_variants()]
