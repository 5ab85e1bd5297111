"""Download one file of the SDSS-II SN data release (master table, SMP light curves) or window_flist.fits,
checked for completeness before the move (the SAS publishes no checksums for them)."""
from transientrepro.io import setup_logging

log = setup_logging(snakemake.log[0])  # noqa: F821

from pathlib import Path  # noqa: E402

from transientrepro.download import download  # noqa: E402
from transientrepro.sdss import archive  # noqa: E402

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
    else:
        raise ValueError(f"download_sdss_file: unknown output {out}")
    download(url, out, timeout=float(a["timeout_s"]), retries=int(a["retries"]), backoff=float(a["backoff_s"]),
             progress=True, validate=validate)
except Exception:
    log.exception("download failed")
    raise
