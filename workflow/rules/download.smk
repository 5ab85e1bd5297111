# Stage: download — the real data sets (active only when a source is not "simulate").
#   plasticc.source == "zenodo": one job per file of Zenodo record 2539456 -> resources/plasticc/<name>
#   sdss.source == "sdss":       SDSS-II SN release files + corrected frames -> resources/sdss/ (SDSSSTAMP-CUBE)
# All download rules are localrules (the cluster profile runs them on the login node, which has internet).
import os
import re


if config["plasticc"]["source"] == "zenodo":
    from transientrepro.download import pinned_md5

    _ZEN = config["plasticc"]["zenodo"]
    _PLASTICC_NAMES = "|".join(re.escape(k) for k in plasticc_raw_files())
    _plasticc_out = f"{PLASTICC_RAW}/{{name}}.csv.gz"

    localrules:
        download_plasticc,

    rule download_plasticc:
        output:
            (
                ensure(
                    _plasticc_out,
                    non_empty=True,
                    md5=lambda w: pinned_md5(_ZEN["checksums"], f"{w.name}.csv.gz"),
                )
                if _ZEN["checksums"]
                else ensure(_plasticc_out, non_empty=True)
            ),
        input:
            pins=[_ZEN["checksums"]] if _ZEN["checksums"] else [],
        wildcard_constraints:
            name=_PLASTICC_NAMES,
        params:
            zenodo=_ZEN,
        log:
            "logs/download/plasticc_{name}.log",
        conda:
            ENV_DATA
        threads: 1
        retries: _ZEN["rule_retries"]
        resources:
            mem_mb=500,
            runtime=120,
        script:
            "../scripts/download_plasticc.py"


if config["sdss"]["source"] == "sdss":
    _SDSS_ARCH = config["sdss"]["archive"]
    _SDSS_ARCHIVE_DIR = f"{SDSS_RAW}/archive"
    _SDSS_RELEASE_FILES = ["master_data.txt", "SMP_Data.tar.gz", "window_flist.fits"]

    localrules:
        download_sdss_file,
        download_sdss,

    rule download_sdss_file:
        output:
            ensure(f"{_SDSS_ARCHIVE_DIR}/{{sdss_file}}", non_empty=True),
        wildcard_constraints:
            sdss_file="|".join(re.escape(f) for f in _SDSS_RELEASE_FILES),
        params:
            archive=_SDSS_ARCH,
        log:
            "logs/download/sdss_{sdss_file}.log",
        conda:
            ENV_DATA
        threads: 1
        retries: _SDSS_ARCH["rule_retries"]
        resources:
            mem_mb=1000,
            runtime=120,
        script:
            "../scripts/download_sdss_file.py"

    rule download_sdss:
        input:
            master=f"{_SDSS_ARCHIVE_DIR}/master_data.txt",
            smp=[f"{_SDSS_ARCHIVE_DIR}/SMP_Data.tar.gz"] if _SDSS_ARCH["lightcurves"] else [],
            window_flist=[] if _SDSS_ARCH["frame_list"] else [f"{_SDSS_ARCHIVE_DIR}/window_flist.fits"],
            frame_list=[_SDSS_ARCH["frame_list"]] if _SDSS_ARCH["frame_list"] else [],
        output:
            catalog=f"{SDSS_RAW}/catalog.csv",
            lightcurves=f"{SDSS_RAW}/lightcurves.csv",
            stamps=directory(f"{SDSS_RAW}/stamps"),
            summary=f"{_SDSS_ARCHIVE_DIR}/download_summary.json",
        params:
            archive=_SDSS_ARCH,
            out_dir=lambda w, output: os.path.dirname(output.catalog),
            frame_dir=f"{_SDSS_ARCHIVE_DIR}/frames",
            seed=config["seed"],
        log:
            "logs/download/sdss_frames.log",
        benchmark:
            "benchmarks/download/sdss_frames.tsv"
        conda:
            ENV_DATA
        threads: 1
        retries: _SDSS_ARCH["rule_retries"]
        resources:
            mem_mb=4000,
            runtime=_SDSS_ARCH["runtime_min"],
        script:
            "../scripts/download_sdss.py"
