"""A real HTTP server on 127.0.0.1 for the download tests (imported by tests/test_download*.py).

Routes map a URL path to a :class:`Route`: a body, a status and a misbehaviour (``truncate``: send
the full Content-Length header but close the connection after half the body; ``reset_after``: for
the first ``resets`` requests, send that many bytes of the body and then reset the connection).
``ranges=True`` makes the route honour ``Range: bytes=N-`` requests (206 + Content-Range, an ETag,
``If-Range``); by default a route ignores Range and answers 200 with the whole body, like a server
without resume support.  ``delay`` sleeps before answering.  Every request is recorded (``requests``:
paths; ``headers``: (path, Range header) pairs) so tests can assert what was fetched.  Serving happens in a daemon thread; the server is
shut down (bounded) by the context manager.
"""
from __future__ import annotations

import contextlib
import hashlib
import socket
import struct
import threading
import time
from pathlib import Path
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator

import yaml

REPO = Path(__file__).resolve().parents[1]


@dataclass
class Route:
    body: bytes = b""
    status: int = 200
    content_type: str = "application/octet-stream"
    truncate: bool = False
    ranges: bool = False
    reset_after: int | None = None
    resets: int = 0
    delay: float = 0.0


class LocalServer:
    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[str] = []
        self.headers: list[tuple[str, str | None]] = []
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep pytest output clean
                pass

            def do_GET(self):  # noqa: N802
                with server.lock:
                    server.requests.append(self.path)
                    server.headers.append((self.path, self.headers.get("Range")))
                route = server.routes.get(self.path)
                if route is None:
                    body = b"not found"
                    self.send_response(404)
                    self.send_header("Content-Length", str(len(body)))
                    self.send_header("Connection", "close")
                    self.end_headers()
                    self.wfile.write(body)
                    return
                if route.delay:
                    time.sleep(route.delay)
                body, start = route.body, 0
                etag = '"' + hashlib.md5(route.body).hexdigest() + '"'  # noqa: S324
                rng = self.headers.get("Range")
                if_range = self.headers.get("If-Range")
                status = route.status
                if route.ranges and rng and rng.startswith("bytes=") and route.status == 200 \
                        and (if_range is None or if_range == etag):
                    start = int(rng[6:].split("-")[0])
                    if start >= len(route.body):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(route.body)}")
                        self.send_header("Content-Length", "0")
                        self.send_header("Connection", "close")
                        self.end_headers()
                        return
                    body, status = route.body[start:], 206
                self.send_response(status)
                self.send_header("Content-Type", route.content_type)
                self.send_header("Content-Length", str(len(body)))
                if route.ranges:
                    self.send_header("Accept-Ranges", "bytes")
                    self.send_header("ETag", etag)
                if status == 206:
                    self.send_header("Content-Range", f"bytes {start}-{len(route.body) - 1}/{len(route.body)}")
                self.send_header("Connection", "close")
                self.end_headers()
                if route.truncate:
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                if route.reset_after is not None and route.resets > 0:
                    with server.lock:
                        route.resets -= 1
                    self.wfile.write(body[: route.reset_after])
                    self.wfile.flush()
                    time.sleep(0.2)  # let the client read what was sent before the reset drops it
                    # an abortive close (RST), as a dropped connection looks to the client
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    self.close_connection = True
                    return
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def add(self, path: str, body: bytes, **kw) -> str:
        self.routes[path] = Route(body=body, **kw)
        return self.base + path


@contextlib.contextmanager
def local_server() -> Iterator[LocalServer]:
    srv = LocalServer()
    srv.thread.start()
    try:
        yield srv
    finally:
        srv.httpd.shutdown()
        srv.httpd.server_close()
        srv.thread.join(timeout=5)


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()  # noqa: S324 (checksum, not security)


def zenodo_record_json(server: LocalServer, record_id: int, files: dict[str, bytes]) -> dict:
    """A record in the structure of https://zenodo.org/api/records/<id> (InvenioRDM legacy serializer)."""
    entries = []
    for name, data in files.items():
        entries.append({
            "id": f"{abs(hash(name)) % 10**8:08d}-0000-0000-0000-000000000000",
            "key": name,
            "size": len(data),
            "checksum": f"md5:{md5(data)}",
            "links": {"self": f"{server.base}/api/records/{record_id}/files/{name}/content"},
        })
    return {
        "id": record_id,
        "doi": f"10.5281/zenodo.{record_id}",
        "metadata": {"title": "Unblinded Data for PLAsTiCC Classification Challenge", "version": "v1"},
        "links": {"self": f"{server.base}/api/records/{record_id}"},
        "files": entries,
    }


def download_workflow(workdir: Path, all_input: str, config: dict) -> Path:
    """A minimal workflow in ``workdir``: the repository's schema, common.smk and download.smk (no
    other stage is needed), ``rule all`` on ``all_input`` (a Python expression), and ``config``
    written to ``cfg.yaml``. Returns the config path (run with ``--configfile cfg.yaml``)."""
    src = str(REPO / "src")
    (workdir / "Snakefile").write_text(  # this checkout's package, for the Snakefile and the rules' scripts
        "import os, sys\n"
        f"sys.path.insert(0, {src!r})\n"
        f"os.environ['PYTHONPATH'] = os.pathsep.join([{src!r}, os.environ.get('PYTHONPATH', '')])\n"
        "from snakemake.utils import validate\n"
        f"validate(config, {str(REPO / 'config' / 'schema.yaml')!r})\n"
        f"include: {str(REPO / 'workflow' / 'rules' / 'common.smk')!r}\n"
        f"include: {str(REPO / 'workflow' / 'rules' / 'download.smk')!r}\n"
        f"rule all:\n    input: {all_input}\n")
    cfg = workdir / "cfg.yaml"
    cfg.write_text(yaml.safe_dump(config))
    return cfg

