"""Download one file of the SDSS-II SN data release (master table, SMP light curves), window_flist.fits or
the run list (photoRunAll), checked for completeness before the move (the SAS publishes no checksums for
them); a broken transfer resumes (HTTP Range), also when Snakemake re-runs the job."""
from transientrepro.io import setup_logging

log = setup_logging(snakemake.log[0])  # noqa: F821

from pathlib import Path  # noqa: E402

from transientrepro.download import download  # noqa: E402
from transientrepro.sdss import archive  # noqa: E402
from transientrepro.sdss.plan import read_run_list  # noqa: E402

try:
    a = snakemake.params.archive  # noqa: F821
    out = Path(snakemake.output[0])  # noqa: F821
    if out.name == archive.MASTER_TABLE_NAME:
        url = a["release_url"].rstrip("/") + "/" + out.name
        rows = a.get("master_rows")
        validate = lambda tmp: archive.validate_master_table(tmp, expected_rows=rows)  # noqa: E731
    elif out.name == archive.SMP_ARCHIVE_NAME:
        url = a["release_url"].rstrip("/") + "/" + out.name
        validate = archive.validate_tar_gz
    elif out.name == "window_flist.fits":
        url = a["window_flist_url"]
        validate = archive.read_window_flist
    elif a.get("run_list_url") and out.name == Path(a["run_list_url"]).name:
        url = a["run_list_url"]
        validate = read_run_list
    else:
        raise ValueError(f"download_sdss_file: unknown output {out}")
    download(url, out, timeout=float(a["timeout_s"]), retries=int(a["retries"]), backoff=float(a["backoff_s"]),
             progress=True, validate=validate, keep_partial=True)
except Exception:
    log.exception("download failed")
    raise
