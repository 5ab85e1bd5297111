"""A real HTTP server on 127.0.0.1 for the download tests (imported by tests/test_download*.py).

Routes map a URL path to a :class:`Route`: a body, a status and a misbehaviour (``truncate``: send
the full Content-Length header but close the connection after half the body).  Every request is
recorded so tests can assert what was fetched.  Serving happens in a daemon thread; the server is
shut down (bounded) by the context manager.
"""
from __future__ import annotations

import contextlib
import hashlib
import threading
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


class LocalServer:
    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep pytest output clean
                pass

            def do_GET(self):  # noqa: N802
                server.requests.append(self.path)
                route = server.routes.get(self.path)
                if route is None:
                    body = b"not found"
                    self.send_response(404)
                    self.send_header("Content-Length", str(len(body)))
                    self.send_header("Connection", "close")
                    self.end_headers()
                    self.wfile.write(body)
                    return
                self.send_response(route.status)
                self.send_header("Content-Type", route.content_type)
                self.send_header("Content-Length", str(len(route.body)))
                self.send_header("Connection", "close")
                self.end_headers()
                if route.truncate:
                    self.wfile.write(route.body[: len(route.body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(route.body)

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
    (workdir / "Snakefile").write_text(
        "from snakemake.utils import validate\n"
        f"validate(config, {str(REPO / 'config' / 'schema.yaml')!r})\n"
        f"include: {str(REPO / 'workflow' / 'rules' / 'common.smk')!r}\n"
        f"include: {str(REPO / 'workflow' / 'rules' / 'download.smk')!r}\n"
        f"rule all:\n    input: {all_input}\n")
    cfg = workdir / "cfg.yaml"
    cfg.write_text(yaml.safe_dump(config))
    return cfg

