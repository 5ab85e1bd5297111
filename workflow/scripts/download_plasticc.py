"""Download one file of Zenodo record 2539456 (PLAsTiCC unblinded), verified (size + md5) before the move."""
from transientrepro.io import setup_logging

log = setup_logging(snakemake.log[0])  # noqa: F821

from pathlib import Path  # noqa: E402

from transientrepro.download import download, read_pinned_checksums, resolve_zenodo_file  # noqa: E402

try:
    z = snakemake.params.zenodo  # noqa: F821
    out = Path(snakemake.output[0])  # noqa: F821
    pinned = read_pinned_checksums(z["checksums"]) if z.get("checksums") else None
    rf = resolve_zenodo_file(out.name, record_id=int(z["record_id"]), api_url=z["api_url"] if z["use_api"] else None,
                             file_url=z["file_url"], pinned=pinned, timeout=float(z["timeout_s"]),
                             retries=int(z["retries"]), backoff=float(z["backoff_s"]))
    log.info("%s: %s (%s, %s bytes)", out.name, rf.url, rf.checksum, rf.size)
    download(rf.url, out, checksum=rf.checksum, size=rf.size, timeout=float(z["timeout_s"]), retries=int(z["retries"]),
             backoff=float(z["backoff_s"]), progress=True, keep_partial=True)  # a re-run job resumes the transfer
except Exception:
    log.exception("download failed")
    raise
