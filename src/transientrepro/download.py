"""Verified downloads: a streaming HTTP(S) GET with timeouts, bounded retries, a progress bar,
size and checksum checks BEFORE the file is moved into place, and the PLAsTiCC Zenodo record.

Only the standard library (``urllib``) and tqdm are used.  Every download goes to a partial file
next to the destination (``.<name>.part``) and is renamed onto the final path only after

1. the number of bytes received equals the server's ``Content-Length`` (a truncated transfer is
   an error naming the URL and both byte counts),
2. it equals the expected size, when the source publishes one (Zenodo does), and
3. its digest (md5 or sha256, whatever the source publishes) equals the expected one.

A failure of any check raises a :class:`DownloadError` subclass (a ``ValueError``) naming the file,
the URL and what differed, and leaves nothing behind.

Resuming (HTTP ``Range``, RFC 9110 §14): the bytes received so far live in a partial file
``.<name>.part`` next to the destination.  A transfer that breaks (connection reset, timeout, a
short read against ``Content-Length``) is retried with ``Range: bytes=<received>-`` (and
``If-Range`` with the first answer's ``ETag``/``Last-Modified``, so a file that changed on the
server is fetched whole again).  A ``206 Partial Content`` answer whose ``Content-Range`` starts at
the received byte count is appended; a ``200 OK`` (the server ignores ``Range``, or the file
changed) or a ``416`` restarts cleanly from byte 0.  Size, checksum and format are verified on the
complete file as before; a checksum mismatch of a *resumed* file is retried once from scratch
before it is reported.  With ``keep_partial=True`` a transfer that still fails after its retries
keeps the partial file (and a small ``.part.json`` naming its URL and validators), so the next
call, e.g. Snakemake re-running the job, resumes it instead of starting again; otherwise nothing
is left behind.

Zenodo record 2539456 (PLAsTiCC unblinded, Kessler et al. 2019): the REST API
``https://zenodo.org/api/records/2539456`` lists every file as
``{"key": name, "size": bytes, "checksum": "md5:<hex>", "links": {"self": ".../files/<name>/content"}}``.
The md5 of the 14 files the workflow needs are also pinned in ``data/zenodo_2539456_files.csv``
(sources in that file), so the workflow can verify a download without the API, and a change of the
record is caught when both are available and disagree.
"""
from __future__ import annotations

import csv
import hashlib
import http.client
import json
import logging
import os
import socket
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from tqdm import tqdm

log = logging.getLogger("transientrepro.download")

USER_AGENT = "transientrepro/0.1 (+https://github.com/; reproducibility workflow)"
CHUNK = 1 << 20
SUPPORTED_ALGORITHMS = ("md5", "sha1", "sha256")

# --- Zenodo 2539456 ----------------------------------------------------------------------------
ZENODO_RECORD_ID = 2539456
ZENODO_API_URL = "https://zenodo.org/api/records/{record_id}"
ZENODO_FILE_URL = "https://zenodo.org/records/{record_id}/files/{name}?download=1"
PLASTICC_FILES = (
    "plasticc_train_lightcurves.csv.gz",
    "plasticc_train_metadata.csv.gz",
    "plasticc_test_metadata.csv.gz",
    *(f"plasticc_test_lightcurves_{i:02d}.csv.gz" for i in range(1, 12)),
)


class DownloadError(ValueError):
    """A download failed or its result could not be verified."""


class HTTPDownloadError(DownloadError):
    """The server answered with an HTTP error status (e.g. 404)."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class TruncatedDownloadError(DownloadError):
    """Fewer (or more) bytes arrived than the server announced or the source publishes."""


class ChecksumError(DownloadError):
    """The downloaded bytes do not have the published digest."""


class RecordError(DownloadError):
    """A Zenodo record (or a pinned checksum file) lacks a file or contradicts another source."""


@dataclass(frozen=True)
class RemoteFile:
    """What the source publishes about one file."""

    name: str
    url: str
    checksum: str | None = None  # "<algorithm>:<hexdigest>", e.g. "md5:1aa1..."
    size: int | None = None


# --- checksums -----------------------------------------------------------------------------------
def parse_checksum(checksum: str, where: str = "checksum") -> tuple[str, str]:
    """Split ``"md5:abc..."`` into ``("md5", "abc...")``; validate the algorithm and hex length."""
    if not isinstance(checksum, str) or ":" not in checksum:
        raise ValueError(f"{where}: expected '<algorithm>:<hexdigest>' (e.g. 'md5:...'), got {checksum!r}")
    algo, digest = checksum.split(":", 1)
    algo, digest = algo.strip().lower(), digest.strip().lower()
    if algo not in SUPPORTED_ALGORITHMS:
        raise ValueError(f"{where}: unsupported checksum algorithm {algo!r} (supported: {SUPPORTED_ALGORITHMS})")
    want_len = hashlib.new(algo).digest_size * 2
    if len(digest) != want_len or any(c not in "0123456789abcdef" for c in digest):
        raise ValueError(f"{where}: {algo} digest must be {want_len} hex characters, got {digest!r}")
    return algo, digest


def file_digest(path: str | os.PathLike, algorithm: str = "md5") -> str:
    """Hex digest of a file, read in 1 MiB blocks."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def verify_file(path: str | os.PathLike, checksum: str | None = None, size: int | None = None,
                name: str | None = None) -> None:
    """Raise :class:`TruncatedDownloadError` / :class:`ChecksumError` unless ``path`` matches."""
    path = Path(path)
    label = name or path.name
    if size is not None:
        actual_size = path.stat().st_size
        if actual_size != int(size):
            raise TruncatedDownloadError(
                f"{label}: size {actual_size} bytes, expected {int(size)} bytes (file {path})")
    if checksum:
        algo, expected = parse_checksum(checksum, where=f"checksum of {label}")
        actual = file_digest(path, algo)
        if actual != expected:
            raise ChecksumError(f"{label}: {algo} checksum mismatch: expected {expected}, got {actual} (file {path})")


# --- HTTP ------------------------------------------------------------------------------------------
def _open(url: str, timeout: float, headers: Mapping[str, str] | None = None) -> http.client.HTTPResponse:
    hdrs = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity", **(headers or {})}
    req = urllib.request.Request(url, headers=hdrs)
    return urllib.request.urlopen(req, timeout=timeout)  # noqa: S310 (URL comes from the config)


def _is_retryable(exc: BaseException) -> bool:
    if isinstance(exc, urllib.error.HTTPError):
        return exc.code >= 500 or exc.code in (408, 425, 429)
    return isinstance(exc, (urllib.error.URLError, http.client.HTTPException, socket.timeout,
                            TimeoutError, ConnectionError, TruncatedDownloadError))


def _with_retries(func: Callable[[], Any], url: str, retries: int, backoff: float) -> Any:
    """Call ``func`` up to ``retries + 1`` times; retry network errors, 5xx and truncation only."""
    attempt = 0
    while True:
        try:
            return func()
        except Exception as exc:  # noqa: BLE001 (classified below)
            if isinstance(exc, urllib.error.HTTPError) and not _is_retryable(exc):
                raise HTTPDownloadError(f"HTTP {exc.code} {exc.reason} for {url}", status=exc.code) from exc
            if not _is_retryable(exc) or attempt >= retries:
                if isinstance(exc, DownloadError):
                    raise
                if isinstance(exc, urllib.error.HTTPError):
                    raise HTTPDownloadError(f"HTTP {exc.code} {exc.reason} for {url} "
                                            f"(after {attempt + 1} attempts)", status=exc.code) from exc
                raise DownloadError(f"download of {url} failed after {attempt + 1} attempt(s): "
                                    f"{type(exc).__name__}: {exc}") from exc
            wait = backoff * (2 ** attempt)
            log.warning("attempt %d/%d for %s failed (%s: %s); retrying in %.1f s",
                        attempt + 1, retries + 1, url, type(exc).__name__, exc, wait)
            if wait > 0:
                time.sleep(wait)
            attempt += 1


def partial_path(dest: str | os.PathLike) -> Path:
    """Where the bytes of an unfinished download of ``dest`` are kept (``.<name>.part``)."""
    dest = Path(dest)
    return dest.with_name(f".{dest.name}.part")


def _part_meta_path(part: Path) -> Path:
    return part.with_name(part.name + ".json")


@dataclass
class _Transfer:
    """State of one file's transfer across attempts (and, with keep_partial, across calls)."""

    url: str
    part: Path
    etag: str | None = None
    last_modified: str | None = None
    total: int | None = None
    resumed_bytes: int = 0  # bytes not fetched again thanks to Range requests
    restarts: int = 0  # times a Range request was answered with the whole file

    def load(self) -> None:
        """Adopt a partial file left by an earlier call for the same URL; drop any other."""
        meta_path = _part_meta_path(self.part)
        if not self.part.exists():
            meta_path.unlink(missing_ok=True)
            return
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, ValueError):
            meta = None
        if not meta or meta.get("url") != self.url:
            log.info("discarding partial file %s (no record of its source or another URL)", self.part)
            self.part.unlink(missing_ok=True)
            meta_path.unlink(missing_ok=True)
            return
        self.etag, self.last_modified, self.total = meta.get("etag"), meta.get("last_modified"), meta.get("total")
        log.info("resuming %s from byte %d (partial file %s)", self.url, self.part.stat().st_size, self.part)

    def save(self) -> None:
        meta = {"url": self.url, "etag": self.etag, "last_modified": self.last_modified, "total": self.total}
        _part_meta_path(self.part).write_text(json.dumps(meta))

    def discard(self) -> None:
        self.part.unlink(missing_ok=True)
        _part_meta_path(self.part).unlink(missing_ok=True)
        self.etag = self.last_modified = self.total = None

    def received(self) -> int:
        return self.part.stat().st_size if self.part.exists() else 0


def _content_range(value: str | None) -> tuple[int, int, int | None] | None:
    """``bytes START-END/TOTAL`` -> (start, end, total or None); None if absent or malformed."""
    if not value or not value.strip().lower().startswith("bytes "):
        return None
    try:
        span, total = value.strip()[6:].split("/", 1)
        start, end = span.split("-", 1)
        return int(start), int(end), (None if total.strip() == "*" else int(total))
    except ValueError:
        return None


def _stream_to(tr: _Transfer, timeout: float, progress: bool, desc: str) -> int:
    """GET (or resume with a Range request) ``tr.url`` into ``tr.part``; return the file's size.

    Raise :class:`TruncatedDownloadError` on a short read (the bytes received stay in the partial
    file for the next attempt).
    """
    offset = tr.received()
    headers: dict[str, str] = {}
    if offset > 0:
        headers["Range"] = f"bytes={offset}-"
        validator = tr.etag or tr.last_modified
        if validator:
            headers["If-Range"] = validator
    try:
        resp = _open(tr.url, timeout, headers)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset > 0:  # range not satisfiable: the partial file is no use
            log.warning("%s: server refused Range from byte %d (HTTP 416); restarting from byte 0", tr.url, offset)
            tr.discard()
            tr.restarts += 1
            raise TruncatedDownloadError(f"{tr.url}: HTTP 416 for a Range request; restarting") from exc
        raise
    with resp:
        status = getattr(resp, "status", 200)
        length = resp.headers.get("Content-Length")
        body_len = int(length) if length is not None and length.strip().isdigit() else None
        mode = "wb"
        if offset > 0 and status == 206:
            cr = _content_range(resp.headers.get("Content-Range"))
            if cr is None or cr[0] != offset:
                raise TruncatedDownloadError(
                    f"{tr.url}: asked for bytes {offset}- but the server sent Content-Range "
                    f"{resp.headers.get('Content-Range')!r}; restarting")
            if cr[2] is not None:
                if tr.total is not None and cr[2] != tr.total:
                    tr.discard()
                    raise TruncatedDownloadError(f"{tr.url}: size changed from {tr.total} to {cr[2]} bytes; restarting")
                tr.total = cr[2]
            mode = "ab"
            tr.resumed_bytes += offset
            log.info("%s: resumed at byte %d of %s", tr.url, offset, tr.total)
        else:
            if offset > 0:  # 200: the server ignored Range (or the file changed): clean restart
                log.warning("%s: server answered %d to a Range request (no resume support, or the file changed); "
                            "restarting from byte 0", tr.url, status)
                tr.restarts += 1
            offset = 0
            tr.total = body_len
            tr.etag = resp.headers.get("ETag")
            tr.last_modified = resp.headers.get("Last-Modified")
        tr.save()
        expected_end = offset + body_len if body_len is not None else tr.total
        received = offset
        bar = tqdm(total=tr.total, initial=offset, unit="B", unit_scale=True, unit_divisor=1024, desc=desc,
                   mininterval=5.0, file=sys.stderr, disable=not progress, leave=False)
        try:
            with open(tr.part, mode) as out:
                while True:
                    try:  # read1: whatever has arrived (<= CHUNK), so a reset loses as little as possible
                        block = resp.read1(CHUNK)
                    except http.client.IncompleteRead as exc:
                        out.write(exc.partial)
                        received += len(exc.partial)
                        raise TruncatedDownloadError(
                            f"truncated download of {tr.url}: received {received} bytes, "
                            f"Content-Length announced {expected_end} bytes") from exc
                    if not block:
                        break
                    out.write(block)
                    received += len(block)
                    bar.update(len(block))
        finally:
            bar.close()
    if expected_end is not None and received != expected_end:
        raise TruncatedDownloadError(
            f"truncated download of {tr.url}: received {received} bytes, Content-Length announced {expected_end} bytes")
    return received


def download(url: str, dest: str | os.PathLike, *, checksum: str | None = None, size: int | None = None,
             timeout: float = 60.0, retries: int = 3, backoff: float = 2.0, progress: bool = True,
             validate: Callable[[Path], None] | None = None, keep_partial: bool = False) -> Path:
    """Download ``url`` to ``dest`` atomically, verifying size and checksum first.

    ``checksum`` is ``"md5:<hex>"`` or ``"sha256:<hex>"`` (None: not verified); ``size`` the
    published size in bytes (None: only Content-Length is checked).  ``validate(tmp_path)`` may run
    a format check (e.g. a complete FITS file) on the temporary file before it is moved into place.
    Network errors, HTTP 5xx and truncated transfers are retried ``retries`` times with exponential
    backoff (``backoff`` * 2**attempt seconds), each retry resuming with a Range request from the
    bytes already received (module docstring); HTTP 4xx and checksum mismatches are not retried.
    ``keep_partial``: on a final failure keep the partial file so a later call resumes it.
    """
    dest = Path(dest)
    if checksum:
        parse_checksum(checksum, where=f"checksum of {dest.name}")
    if timeout <= 0:
        raise ValueError(f"timeout must be > 0 seconds, got {timeout}")
    if retries < 0:
        raise ValueError(f"retries must be >= 0, got {retries}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    tr = _Transfer(url=url, part=partial_path(dest))
    if keep_partial:
        tr.load()
    else:
        tr.discard()
    ok = False
    try:
        for fresh_try in (False, True):
            resumed_before = tr.resumed_bytes > 0 or tr.received() > 0
            nbytes = _with_retries(lambda: _stream_to(tr, timeout, progress, dest.name), url, retries, backoff)
            try:
                if size is not None and nbytes != int(size):
                    raise TruncatedDownloadError(
                        f"{dest.name}: received {nbytes} bytes from {url}, the source publishes {int(size)} bytes")
                try:
                    verify_file(tr.part, checksum=checksum, size=None, name=dest.name)
                except ChecksumError as exc:
                    raise ChecksumError(f"{exc} [downloaded from {url}; nothing was written to {dest}]") from None
                if validate is not None:
                    validate(tr.part)
            except Exception as exc:  # noqa: BLE001 (a failed check: the bytes are no use)
                tr.discard()
                retry_fresh = isinstance(exc, (ChecksumError, TruncatedDownloadError)) and not fresh_try
                if not retry_fresh or not (resumed_before or tr.resumed_bytes):
                    raise
                log.warning("%s; the file was resumed from a partial transfer: downloading it once more from byte 0",
                            exc)
                tr.resumed_bytes = 0
                continue
            break
        os.replace(tr.part, dest)
        _part_meta_path(tr.part).unlink(missing_ok=True)
        ok = True
    finally:
        if not ok:
            if keep_partial and tr.received() > 0 and tr.part.exists():
                log.warning("kept %d bytes of %s in %s: the next attempt resumes from there", tr.received(), url, tr.part)
            else:
                tr.discard()
    dt = time.monotonic() - t0
    log.info("downloaded %s (%d bytes, %.1f s%s%s) -> %s", url, nbytes, dt,
             f", {checksum.split(':')[0]} verified" if checksum else ", no checksum published",
             f", {tr.resumed_bytes} bytes resumed" if tr.resumed_bytes else "", dest)
    return dest


def fetch_json(url: str, *, timeout: float = 60.0, retries: int = 3, backoff: float = 2.0) -> Any:
    """GET and parse a JSON document (bounded retries, same error classes as :func:`download`)."""

    def _get() -> bytes:
        with _open(url, timeout) as resp:
            return resp.read()

    body = _with_retries(_get, url, retries, backoff)
    try:
        return json.loads(body)
    except json.JSONDecodeError as exc:
        raise DownloadError(f"{url} did not return JSON: {exc}") from exc


# --- Zenodo --------------------------------------------------------------------------------------
def zenodo_files(record: Mapping[str, Any], source: str = "Zenodo record") -> dict[str, RemoteFile]:
    """Map file name -> :class:`RemoteFile` from a Zenodo REST record (``/api/records/<id>``)."""
    files = record.get("files") if isinstance(record, Mapping) else None
    if isinstance(files, Mapping) and "entries" in files:  # InvenioRDM "files" object form
        files = list(files["entries"].values()) if isinstance(files["entries"], Mapping) else files["entries"]
    if not isinstance(files, list):
        raise RecordError(f"{source}: no 'files' list in the record JSON (keys: {sorted(record)[:20]})")
    out: dict[str, RemoteFile] = {}
    for i, f in enumerate(files):
        name = f.get("key") or f.get("filename")
        if not name:
            raise RecordError(f"{source}: files[{i}] has no 'key'")
        links = f.get("links") or {}
        url = links.get("self") or links.get("content") or links.get("download") or ""
        checksum = f.get("checksum")
        if checksum and ":" not in checksum:  # legacy API: bare md5
            checksum = f"md5:{checksum}"
        if checksum:
            parse_checksum(checksum, where=f"{source}: checksum of {name}")
        size = f.get("size", f.get("filesize"))
        out[name] = RemoteFile(name=name, url=url, checksum=checksum, size=int(size) if size is not None else None)
    return out


def read_pinned_checksums(path: str | os.PathLike) -> dict[str, RemoteFile]:
    """Read ``name,md5,size_bytes,...`` rows (our committed ``data/zenodo_2539456_files.csv``)."""
    path = Path(path)
    out: dict[str, RemoteFile] = {}
    with open(path, newline="") as f:
        rows = csv.DictReader(line for line in f if not line.startswith("#"))
        missing = {"name", "md5"} - set(rows.fieldnames or [])
        if missing:
            raise RecordError(f"{path}: missing column(s) {sorted(missing)}; header is {rows.fieldnames}")
        for lineno, row in enumerate(rows, start=2):
            name, md5 = (row["name"] or "").strip(), (row["md5"] or "").strip().lower()
            if not name:
                raise RecordError(f"{path}: row {lineno} has an empty name")
            checksum = f"md5:{md5}" if md5 else None
            if checksum:
                parse_checksum(checksum, where=f"{path}: row {lineno} ({name})")
            size = (row.get("size_bytes") or "").strip()
            out[name] = RemoteFile(name=name, url="", checksum=checksum, size=int(size) if size else None)
    return out


def resolve_zenodo_file(name: str, *, record_id: int = ZENODO_RECORD_ID, api_url: str | None = ZENODO_API_URL,
                        file_url: str = ZENODO_FILE_URL, pinned: Mapping[str, RemoteFile] | None = None,
                        record: Mapping[str, Any] | None = None, timeout: float = 60.0, retries: int = 3,
                        backoff: float = 2.0) -> RemoteFile:
    """Where to get ``name`` and what it must hash to.

    Uses the record JSON (fetched from ``api_url`` unless ``record`` is given; ``api_url=None`` skips
    the API) for the URL, checksum and size, and cross-checks the pinned md5/size if both exist.
    Without the API, the URL comes from ``file_url`` and the checksum from ``pinned``.
    """
    fallback_url = file_url.format(record_id=record_id, name=name)
    api_entry: RemoteFile | None = None
    if record is None and api_url:
        url = api_url.format(record_id=record_id)
        record = fetch_json(url, timeout=timeout, retries=retries, backoff=backoff)
        source = url
    else:
        source = f"Zenodo record {record_id}"
    if record is not None:
        files = zenodo_files(record, source=source)
        if name not in files:
            raise RecordError(f"{source}: no file named {name!r}; the record has {sorted(files)}")
        api_entry = files[name]
    pin = (pinned or {}).get(name)
    if api_entry is None and pin is None:
        raise RecordError(f"{name}: no checksum available (Zenodo API disabled and no pinned md5); "
                          "refusing an unverified download")
    if api_entry is not None and pin is not None:
        if pin.checksum and api_entry.checksum and pin.checksum != api_entry.checksum:
            raise RecordError(f"{name}: pinned checksum {pin.checksum} differs from the Zenodo API's "
                              f"{api_entry.checksum} ({source}); the record changed or the pin is wrong")
        if pin.size is not None and api_entry.size is not None and pin.size != api_entry.size:
            raise RecordError(f"{name}: pinned size {pin.size} differs from the Zenodo API's {api_entry.size}")
    checksum = (api_entry.checksum if api_entry else None) or (pin.checksum if pin else None)
    size = (api_entry.size if api_entry else None)
    if size is None and pin is not None:
        size = pin.size
    url = (api_entry.url if api_entry and api_entry.url else "") or fallback_url
    return RemoteFile(name=name, url=url, checksum=checksum, size=size)


def download_zenodo_files(names: Iterable[str], dest_dir: str | os.PathLike, *, record_id: int = ZENODO_RECORD_ID,
                          api_url: str | None = ZENODO_API_URL, file_url: str = ZENODO_FILE_URL,
                          pinned_checksums: str | os.PathLike | None = None, timeout: float = 60.0,
                          retries: int = 3, backoff: float = 2.0, progress: bool = True,
                          keep_partial: bool = False) -> list[Path]:
    """Download files of a Zenodo record into ``dest_dir``, each verified (size + md5) before the move
    (broken transfers resume with Range requests; ``keep_partial``: see :func:`download`)."""
    names = list(names)
    pinned = read_pinned_checksums(pinned_checksums) if pinned_checksums else None
    record = None
    if api_url:
        record = fetch_json(api_url.format(record_id=record_id), timeout=timeout, retries=retries, backoff=backoff)
    out = []
    for name in tqdm(names, desc="zenodo files", mininterval=5.0, file=sys.stderr, disable=not progress or len(names) < 2):
        rf = resolve_zenodo_file(name, record_id=record_id, api_url=None, file_url=file_url, pinned=pinned,
                                 record=record)
        out.append(download(rf.url, Path(dest_dir) / name, checksum=rf.checksum, size=rf.size, timeout=timeout,
                            retries=retries, backoff=backoff, progress=progress, keep_partial=keep_partial))
    return out


def pinned_md5(checksums_path: str | os.PathLike, name: str) -> str:
    """The pinned md5 hex digest of ``name`` (for Snakemake's ``ensure(md5=...)``); raises if absent."""
    pins = read_pinned_checksums(checksums_path)
    if name not in pins or not pins[name].checksum:
        raise RecordError(f"{checksums_path}: no md5 pinned for {name} (config plasticc.zenodo.checksums)")
    return pins[name].checksum.split(":", 1)[1]
