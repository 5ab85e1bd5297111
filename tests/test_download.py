"""Downloader and Zenodo 2539456 tests against a real HTTP server on 127.0.0.1 (no internet)."""
from __future__ import annotations

import gzip
import io
import json
import time
from pathlib import Path

import pandas as pd
import pytest

from transientrepro import download as dl
from conftest import run_snakemake
from test_download_helpers import download_workflow, local_server, md5, zenodo_record_json

SAMPLE = Path(__file__).parent / "data" / "plasticc_kaggle_training_sample10"
REPO = Path(__file__).resolve().parents[1]
RECORD = 2539456


def _gz_csv(df: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as gz:
        gz.write(df.to_csv(index=False).encode())
    return buf.getvalue()


def plasticc_like_files(n_test_files: int = 2) -> dict[str, bytes]:
    """gzip'd CSVs in the Zenodo 2539456 layout, built from the 10 real Kaggle training objects
    (columns renamed as in the unblinded release: ddf -> ddf_bool, detected -> detected_bool)."""
    lc = pd.read_csv(SAMPLE / "training_set.csv").rename(columns={"detected": "detected_bool"})
    meta = pd.read_csv(SAMPLE / "training_set_metadata.csv").rename(columns={"ddf": "ddf_bool"})
    meta = meta.drop(columns=["gal_l", "gal_b"])
    meta["true_target"] = meta["target"]
    train_ids, test_ids = meta.object_id[:4], meta.object_id[4:]
    files = {
        "plasticc_train_lightcurves.csv.gz": _gz_csv(lc[lc.object_id.isin(train_ids)]),
        "plasticc_train_metadata.csv.gz": _gz_csv(meta[meta.object_id.isin(train_ids)]),
        "plasticc_test_metadata.csv.gz": _gz_csv(meta[meta.object_id.isin(test_ids)].drop(columns="target")),
    }
    chunks = [test_ids.iloc[i::n_test_files] for i in range(n_test_files)]
    for i, ids in enumerate(chunks, start=1):
        files[f"plasticc_test_lightcurves_{i:02d}.csv.gz"] = _gz_csv(lc[lc.object_id.isin(ids)])
    files["plasticc_modelpar.tar.gz"] = b"not needed by the workflow"
    return files


def serve_zenodo(srv, files: dict[str, bytes]) -> dict:
    record = zenodo_record_json(srv, RECORD, files)
    srv.add(f"/api/records/{RECORD}", json.dumps(record).encode(), content_type="application/json")
    for name, data in files.items():
        srv.add(f"/api/records/{RECORD}/files/{name}/content", data)
        srv.add(f"/records/{RECORD}/files/{name}?download=1", data)
    return record


FAST = dict(timeout=5.0, retries=1, backoff=0.0, progress=False)


# --- generic downloader --------------------------------------------------------------------------
def test_download_happy_path_md5_and_sha256(tmp_path):
    data = b"x" * 3_000_000 + b"tail"  # several 1 MiB chunks
    import hashlib

    with local_server() as srv:
        url = srv.add("/a.bin", data)
        out = dl.download(url, tmp_path / "sub" / "a.bin", checksum=f"md5:{md5(data)}", size=len(data), **FAST)
        assert out.read_bytes() == data
        out2 = dl.download(url, tmp_path / "b.bin", checksum=f"sha256:{hashlib.sha256(data).hexdigest()}", **FAST)
        assert out2.read_bytes() == data
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["a.bin", "b.bin"]


def test_wrong_checksum_raises_and_leaves_nothing(tmp_path):
    data = b"hello PLAsTiCC"
    wrong = "0" * 32
    with local_server() as srv:
        url = srv.add("/f.csv.gz", data)
        with pytest.raises(dl.ChecksumError) as ei:
            dl.download(url, tmp_path / "f.csv.gz", checksum=f"md5:{wrong}", **FAST)
    msg = str(ei.value)
    assert "f.csv.gz" in msg and wrong in msg and md5(data) in msg
    assert isinstance(ei.value, ValueError)
    assert list(tmp_path.iterdir()) == []


def test_existing_file_untouched_when_new_download_fails(tmp_path):
    dest = tmp_path / "f.bin"
    dest.write_bytes(b"old good content")
    with local_server() as srv:
        url = srv.add("/f.bin", b"new")
        with pytest.raises(dl.ChecksumError):
            dl.download(url, dest, checksum="md5:" + "1" * 32, **FAST)
    assert dest.read_bytes() == b"old good content"
    assert [p.name for p in tmp_path.iterdir()] == ["f.bin"]


def test_truncated_download_raises_names_url_and_bytes(tmp_path):
    data = bytes(range(256)) * 1000  # 256000 bytes
    with local_server() as srv:
        url = srv.add("/big.bin", data, truncate=True)
        t0 = time.monotonic()
        with pytest.raises(dl.TruncatedDownloadError) as ei:
            dl.download(url, tmp_path / "big.bin", retries=2, timeout=5.0, backoff=0.0, progress=False)
        assert time.monotonic() - t0 < 30
        n_requests = srv.requests.count("/big.bin")
    msg = str(ei.value)
    assert url in msg and "128000" in msg and "256000" in msg
    assert n_requests == 3  # truncation is retried (retries=2), then reported
    assert list(tmp_path.iterdir()) == []


def test_size_mismatch_against_published_size(tmp_path):
    with local_server() as srv:
        url = srv.add("/s.bin", b"12345")
        with pytest.raises(dl.TruncatedDownloadError, match="received 5 bytes.*publishes 9 bytes"):
            dl.download(url, tmp_path / "s.bin", size=9, **FAST)
    assert list(tmp_path.iterdir()) == []


def test_http_404_names_url_and_is_not_retried(tmp_path):
    with local_server() as srv:
        url = srv.base + "/missing.fits.bz2"
        with pytest.raises(dl.HTTPDownloadError) as ei:
            dl.download(url, tmp_path / "missing.fits.bz2", timeout=5.0, retries=3, backoff=0.0, progress=False)
        assert srv.requests == ["/missing.fits.bz2"]
    assert ei.value.status == 404 and url in str(ei.value) and "404" in str(ei.value)
    assert list(tmp_path.iterdir()) == []


def test_http_500_is_retried_then_reported(tmp_path):
    with local_server() as srv:
        url = srv.add("/flaky", b"oops", status=503)
        with pytest.raises(dl.HTTPDownloadError, match="503.*flaky.*after 3 attempts"):
            dl.download(url, tmp_path / "flaky", timeout=5.0, retries=2, backoff=0.0, progress=False)
        assert srv.requests.count("/flaky") == 3


def test_connection_refused_is_bounded(tmp_path):
    with local_server() as srv:
        base = srv.base
    t0 = time.monotonic()
    with pytest.raises(dl.DownloadError, match="failed after 2 attempt"):
        dl.download(base + "/x", tmp_path / "x", timeout=2.0, retries=1, backoff=0.0, progress=False)
    assert time.monotonic() - t0 < 20


def test_bad_checksum_spec_rejected():
    with pytest.raises(ValueError, match="unsupported checksum algorithm"):
        dl.parse_checksum("crc32:1234")
    with pytest.raises(ValueError, match="32 hex characters"):
        dl.parse_checksum("md5:abc")


# --- Zenodo 2539456 ------------------------------------------------------------------------------
def test_pinned_checksum_file_is_complete():
    pinned = dl.read_pinned_checksums(REPO / "data" / "zenodo_2539456_files.csv")
    assert set(pinned) == set(dl.PLASTICC_FILES)
    assert all(p.checksum.startswith("md5:") and len(p.checksum) == 36 for p in pinned.values())
    assert len({p.checksum for p in pinned.values()}) == 14
    assert pinned["plasticc_train_lightcurves.csv.gz"].size == 21553100


def test_zenodo_record_download_happy_path(tmp_path):
    files = plasticc_like_files()
    with local_server() as srv:
        serve_zenodo(srv, files)
        wanted = [n for n in files if n != "plasticc_modelpar.tar.gz"]
        out = dl.download_zenodo_files(wanted, tmp_path, api_url=srv.base + "/api/records/{record_id}",
                                       file_url=srv.base + "/records/{record_id}/files/{name}?download=1", **FAST)
        assert srv.requests.count(f"/api/records/{RECORD}") == 1
        assert not any("modelpar" in r for r in srv.requests)
    assert sorted(p.name for p in out) == sorted(wanted)
    for p in out:
        assert p.read_bytes() == files[p.name]
    lc = pd.read_csv(tmp_path / "plasticc_test_lightcurves_01.csv.gz")
    assert list(lc.columns) == ["object_id", "mjd", "passband", "flux", "flux_err", "detected_bool"]
    assert "ddf_bool" in pd.read_csv(tmp_path / "plasticc_train_metadata.csv.gz").columns


def test_zenodo_corrupted_file_fails_with_name_and_digests(tmp_path):
    files = plasticc_like_files()
    with local_server() as srv:
        record = serve_zenodo(srv, files)
        name = "plasticc_train_metadata.csv.gz"
        srv.add(f"/api/records/{RECORD}/files/{name}/content", files[name][:-8] + b"corrupt!")  # same size
        with pytest.raises(dl.ChecksumError) as ei:
            dl.download_zenodo_files([name], tmp_path, api_url=srv.base + "/api/records/{record_id}", **FAST)
    expected = next(f["checksum"] for f in record["files"] if f["key"] == name).split(":")[1]
    assert name in str(ei.value) and expected in str(ei.value)
    assert list(tmp_path.iterdir()) == []


def test_zenodo_missing_file_in_record(tmp_path):
    files = plasticc_like_files(n_test_files=1)
    with local_server() as srv:
        serve_zenodo(srv, files)
        with pytest.raises(dl.RecordError, match="plasticc_test_lightcurves_02.csv.gz"):
            dl.download_zenodo_files(["plasticc_test_lightcurves_02.csv.gz"], tmp_path,
                                     api_url=srv.base + "/api/records/{record_id}", **FAST)


def test_zenodo_pin_contradicting_api_is_an_error(tmp_path):
    """The real pins (data/zenodo_2539456_files.csv) against a fake record: the contradiction is caught."""
    files = plasticc_like_files()
    with local_server() as srv:
        serve_zenodo(srv, files)
        with pytest.raises(dl.RecordError, match="pinned checksum md5:8c6b00fd.*differs from the Zenodo API"):
            dl.download_zenodo_files(["plasticc_train_metadata.csv.gz"], tmp_path,
                                     api_url=srv.base + "/api/records/{record_id}",
                                     pinned_checksums=REPO / "data" / "zenodo_2539456_files.csv", **FAST)
    assert list(tmp_path.iterdir()) == []


def test_zenodo_without_api_uses_pins_and_file_url(tmp_path):
    files = plasticc_like_files()
    pins = tmp_path / "pins.csv"
    pins.write_text("name,md5,size_bytes\n" + "".join(f"{n},{md5(d)},{len(d)}\n" for n, d in files.items()))
    dest = tmp_path / "out"
    with local_server() as srv:
        serve_zenodo(srv, files)
        dl.download_zenodo_files(["plasticc_test_metadata.csv.gz"], dest, api_url=None, pinned_checksums=pins,
                                 file_url=srv.base + "/records/{record_id}/files/{name}?download=1", **FAST)
        assert srv.requests == [f"/records/{RECORD}/files/plasticc_test_metadata.csv.gz?download=1"]
    assert (dest / "plasticc_test_metadata.csv.gz").read_bytes() == files["plasticc_test_metadata.csv.gz"]


def test_zenodo_refuses_unverifiable_download(tmp_path):
    with pytest.raises(dl.RecordError, match="refusing an unverified download"):
        dl.resolve_zenodo_file("plasticc_train_metadata.csv.gz", api_url=None, pinned=None)


def test_zenodo_files_parses_real_structure():
    record = {"files": [{"key": "a.csv.gz", "size": 3, "checksum": "md5:" + "a" * 32,
                         "links": {"self": "https://zenodo.org/api/records/1/files/a.csv.gz/content"}}]}
    f = dl.zenodo_files(record)["a.csv.gz"]
    assert f.url.endswith("/files/a.csv.gz/content") and f.size == 3 and f.checksum == "md5:" + "a" * 32
    with pytest.raises(dl.RecordError, match="no 'files' list"):
        dl.zenodo_files({"metadata": {}})


# --- the download_plasticc rule through Snakemake ---------------------------------------------------
@pytest.mark.slow
def test_download_plasticc_rule_via_snakemake(tmp_path):
    """common.smk + download.smk in a minimal Snakefile (the other stages are not needed), a config with
    source: zenodo pointing at the local server: every file of plasticc_raw_files() arrives verified."""
    import yaml

    files = plasticc_like_files(n_test_files=11)
    pins = tmp_path / "pins.csv"
    pins.write_text("name,md5,size_bytes\n" + "".join(f"{n},{md5(d)},{len(d)}\n" for n, d in files.items()))
    with local_server() as srv:
        serve_zenodo(srv, files)
        cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
        cfg["plasticc"]["source"] = "zenodo"
        cfg["plasticc"]["zenodo"].update(api_url=srv.base + "/api/records/{record_id}", checksums=str(pins),
                                         file_url=srv.base + "/records/{record_id}/files/{name}?download=1",
                                         timeout_s=5, retries=1, backoff_s=0.0, rule_retries=0)
        download_workflow(tmp_path, "list(plasticc_raw_files().values())", cfg)
        args = ["--cores", "2", "--configfile", "cfg.yaml", "--nolock"]
        lint = run_snakemake([*args, "--lint"], cwd=tmp_path, timeout=120)
        proc = run_snakemake([*args, "--quiet", "rules"], cwd=tmp_path, timeout=240)
        assert proc.returncode == 0, proc.stderr[-3000:]
        served = [r for r in srv.requests if r.endswith("/content")]
    lint_out = lint.stdout + lint.stderr  # the ad-hoc test Snakefile itself may draw lints; download.smk may not
    own = [ln for ln in lint_out.splitlines() if ln.startswith("Lints for") and
           ("download.smk:" in ln or ln.startswith("Lints for rule download_"))]
    assert own == [], lint_out
    wanted = [n for n in files if n != "plasticc_modelpar.tar.gz"]
    assert sorted(served) == sorted(f"/api/records/{RECORD}/files/{n}/content" for n in wanted)
    for n in wanted:
        assert (tmp_path / "resources" / "plasticc" / n).read_bytes() == files[n]
    assert (tmp_path / "logs" / "download" / "plasticc_plasticc_test_lightcurves_11.log").exists()


# --- resuming broken transfers (HTTP Range) -------------------------------------------------------
def _offsets(srv, path):
    """Byte offsets the client asked for, request by request (0 = no Range header)."""
    return [int(r[6:].split("-")[0]) if r else 0 for p, r in srv.headers if p == path]


def test_reset_mid_file_is_resumed_with_range(tmp_path):
    data = bytes(range(256)) * 4000  # 1,024,000 bytes
    with local_server() as srv:
        url = srv.add("/big.csv.gz", data, ranges=True, reset_after=300_000, resets=2)
        out = dl.download(url, tmp_path / "big.csv.gz", checksum=f"md5:{md5(data)}", size=len(data), **dict(FAST, retries=3))
        offsets = _offsets(srv, "/big.csv.gz")
    assert out.read_bytes() == data
    assert len(offsets) == 3 and offsets[0] == 0
    # each retry continues where the broken transfer stopped: offsets grow, nothing before them is fetched again
    assert 0 < offsets[1] < offsets[2] < len(data)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.csv.gz"]  # no partial file left


def test_server_ignoring_range_means_a_clean_restart(tmp_path):
    data = b"0123456789abcdef" * 40_000
    with local_server() as srv:
        url = srv.add("/norange.bin", data, ranges=False, reset_after=200_000, resets=1)
        out = dl.download(url, tmp_path / "norange.bin", checksum=f"md5:{md5(data)}", **FAST)
        offsets = _offsets(srv, "/norange.bin")
    assert offsets[0] == 0 and offsets[1] > 0  # the client asked to resume ...
    assert out.read_bytes() == data  # ... the 200 answer was written from byte 0, not appended
    assert [p.name for p in tmp_path.iterdir()] == ["norange.bin"]


def test_partial_file_kept_and_resumed_by_the_next_call(tmp_path):
    data = bytes(range(251)) * 2000
    dest = tmp_path / "plasticc_test_lightcurves_01.csv.gz"
    with local_server() as srv:
        url = srv.add("/f.csv.gz", data, ranges=True, reset_after=150_000, resets=1)
        with pytest.raises(dl.DownloadError):
            dl.download(url, dest, checksum=f"md5:{md5(data)}", timeout=5.0, retries=0, backoff=0.0, progress=False,
                        keep_partial=True)
        part = dl.partial_path(dest)
        assert part.exists() and 0 < part.stat().st_size < len(data) and not dest.exists()
        kept = part.stat().st_size
        dl.download(url, dest, checksum=f"md5:{md5(data)}", timeout=5.0, retries=0, backoff=0.0, progress=False,
                    keep_partial=True)
        offsets = _offsets(srv, "/f.csv.gz")
    assert offsets == [0, kept]
    assert dest.read_bytes() == data
    assert sorted(p.name for p in tmp_path.iterdir()) == [dest.name]


def test_changed_file_is_not_spliced(tmp_path):
    """A partial file of an older version: If-Range (ETag) gets the whole new file; without a validator
    the spliced result fails the checksum and is fetched once more from byte 0."""
    old, new = b"A" * 300_000, b"B" * 300_000
    dest = tmp_path / "f.bin"
    with local_server() as srv:
        url = srv.add("/f.bin", old, ranges=True, reset_after=100_000, resets=1)
        with pytest.raises(dl.DownloadError):
            dl.download(url, dest, timeout=5.0, retries=0, backoff=0.0, progress=False, keep_partial=True)
        srv.add("/f.bin", new, ranges=True)
        dl.download(url, dest, checksum=f"md5:{md5(new)}", timeout=5.0, retries=0, backoff=0.0, progress=False,
                    keep_partial=True)
        assert dest.read_bytes() == new and _offsets(srv, "/f.bin")[-1] > 0  # asked to resume, got 200 (ETag changed)
        # the same without a recorded validator: a 206 splice, caught by the md5, then a clean download
        srv.add("/g.bin", old, ranges=True, reset_after=100_000, resets=1)
        gdest = tmp_path / "g.bin"
        with pytest.raises(dl.DownloadError):
            dl.download(srv.base + "/g.bin", gdest, timeout=5.0, retries=0, backoff=0.0, progress=False, keep_partial=True)
        meta = dl.partial_path(gdest).with_name(dl.partial_path(gdest).name + ".json")
        meta.write_text(json.dumps({"url": srv.base + "/g.bin"}))
        srv.add("/g.bin", new, ranges=True)
        dl.download(srv.base + "/g.bin", gdest, checksum=f"md5:{md5(new)}", timeout=5.0, retries=0, backoff=0.0,
                    progress=False, keep_partial=True)
        g_offsets = _offsets(srv, "/g.bin")
    assert gdest.read_bytes() == new
    assert g_offsets[-2] > 0 and g_offsets[-1] == 0  # resumed (spliced, rejected), then from byte 0


def test_zenodo_file_reset_midway_resumes(tmp_path):
    files = plasticc_like_files()
    name = "plasticc_train_lightcurves.csv.gz"
    with local_server() as srv:
        serve_zenodo(srv, files)
        path = f"/api/records/{RECORD}/files/{name}/content"
        srv.add(path, files[name], ranges=True, reset_after=len(files[name]) // 3, resets=1)
        out = dl.download_zenodo_files([name], tmp_path, api_url=srv.base + "/api/records/{record_id}", **FAST)
        offsets = _offsets(srv, path)
    assert out[0].read_bytes() == files[name]
    assert offsets[0] == 0 and offsets[1] > 0
