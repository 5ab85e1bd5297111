"""A minimal headless-Chromium driver for tests: the DevTools protocol over a pipe (stdlib only).

``chromium --remote-debugging-pipe`` reads NUL-terminated JSON commands on fd 3 and writes replies
and events on fd 4, so no websocket client and no Python dependency is needed. Every wait is bounded.

    with Browser() as b:
        b.open("file:///.../report.html")
        b.wait_for("document.title.length > 0")
        text = b.eval("document.body.innerText")
"""
from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic", "--no-first-run",
    "--no-default-browser-check", "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-extensions", "--mute-audio", "--remote-debugging-pipe",
)


def find_chromium() -> str | None:
    """The first Chromium-like browser on PATH (``$CHROMIUM`` first), or None."""
    for name in filter(None, (os.environ.get("CHROMIUM"), *CANDIDATES)):
        path = shutil.which(name)
        if path:
            return path
    return None


class BrowserError(RuntimeError):
    pass


class Browser:
    """One headless Chromium with one page; ``timeout`` bounds every protocol call."""

    def __init__(self, exe: str | None = None, timeout: float = 30.0):
        self.exe = exe or find_chromium()
        if not self.exe:
            raise BrowserError(f"no Chromium found (tried ${{CHROMIUM}} and {CANDIDATES})")
        self.timeout = timeout
        self.events: list[dict[str, Any]] = []
        self._buf = b""
        self._id = 0
        self._session: str | None = None

    # --- process ---
    def __enter__(self) -> "Browser":
        self._profile = tempfile.mkdtemp(prefix="chromium-test-")
        self._stderr = tempfile.TemporaryFile()
        to_chrome_r, self._w = os.pipe()
        self._r, from_chrome_w = os.pipe()

        def fds() -> None:  # in the child: the protocol pipes become fds 3 (commands) and 4 (replies)
            a, b = os.dup(to_chrome_r), os.dup(from_chrome_w)
            os.dup2(a, 3)
            os.dup2(b, 4)

        self.proc = subprocess.Popen([self.exe, *FLAGS, f"--user-data-dir={self._profile}", "about:blank"],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self._stderr,
                                     pass_fds=(3, 4), preexec_fn=fds)
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        try:
            deadline = time.monotonic() + self.timeout
            while True:
                pages = [t for t in self.call("Target.getTargets")["targetInfos"] if t["type"] == "page"]
                if pages:
                    break
                if time.monotonic() > deadline:
                    raise BrowserError("Chromium opened no page")
                time.sleep(0.1)
            self._session = self.call("Target.attachToTarget", {"targetId": pages[0]["targetId"], "flatten": True})["sessionId"]
            for domain in ("Page", "Runtime"):
                self.call(f"{domain}.enable")
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.proc.poll() is None:  # a clean shutdown lets Chromium reap its own helper processes
            try:
                self.timeout = min(self.timeout, 5.0)
                self.call("Browser.close", session=False)
                self.proc.wait(10)
            except (BrowserError, OSError, subprocess.TimeoutExpired):
                pass
        for fd in (self._w, self._r):
            try:
                os.close(fd)
            except OSError:
                pass
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._stderr.close()
        shutil.rmtree(self._profile, ignore_errors=True)

    def stderr_tail(self, n: int = 3000) -> str:
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")[-n:]

    # --- protocol ---
    def call(self, method: str, params: dict[str, Any] | None = None, session: bool | None = None) -> dict[str, Any]:
        """Send one command and wait (bounded) for its reply; events that arrive meanwhile are kept."""
        self._id += 1
        msg: dict[str, Any] = {"id": self._id, "method": method, "params": params or {}}
        if session is not False and self._session:
            msg["sessionId"] = self._session
        os.write(self._w, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        while True:
            while b"\0" in self._buf:
                raw, self._buf = self._buf.split(b"\0", 1)
                reply = json.loads(raw)
                if reply.get("id") == self._id:
                    if "error" in reply:
                        raise BrowserError(f"{method}: {reply['error']}")
                    return reply.get("result", {})
                if "method" in reply:
                    self.events.append(reply)
            left = deadline - time.monotonic()
            if left <= 0:
                raise BrowserError(f"{method}: no reply within {self.timeout:.0f} s; chromium stderr: {self.stderr_tail()}")
            ready, _, _ = select.select([self._r], [], [], left)
            if ready:
                chunk = os.read(self._r, 1 << 20)
                if not chunk:
                    raise BrowserError(f"Chromium closed the pipe during {method}: {self.stderr_tail()}")
                self._buf += chunk

    def open(self, url: str, timeout: float | None = None) -> None:
        """Navigate and wait for the load event."""
        self.events.clear()
        self.call("Page.navigate", {"url": url})
        self.wait_for("document.readyState === 'complete'", timeout)

    def eval(self, expression: str) -> Any:
        """Evaluate JavaScript in the page and return its (JSON) value; a thrown error is raised."""
        res = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in res:
            raise BrowserError(f"{expression[:200]!r} threw: {res['exceptionDetails'].get('exception', res['exceptionDetails'])}")
        return res["result"].get("value")

    def wait_for(self, expression: str, timeout: float | None = None, interval: float = 0.05) -> Any:
        """Poll ``expression`` until it is truthy; raise after ``timeout`` seconds."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            value = self.eval(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise BrowserError(f"timed out waiting for {expression[:200]!r}")
            time.sleep(interval)

    def screenshot(self, path: str | Path, width: int = 1400, height: int = 900) -> Path:
        """Save a PNG of the page at ``width`` x ``height`` CSS pixels (for looking at a failure)."""
        import base64

        self.call("Emulation.setDeviceMetricsOverride", {"width": width, "height": height, "deviceScaleFactor": 1,
                                                         "mobile": False})
        data = self.call("Page.captureScreenshot", {"format": "png"})["data"]
        Path(path).write_bytes(base64.b64decode(data))
        return Path(path)

    def exceptions(self) -> list[str]:
        """Uncaught page exceptions and console errors since the last ``open``."""
        out = []
        for ev in self.events:
            if ev["method"] == "Runtime.exceptionThrown":
                d = ev["params"]["exceptionDetails"]
                out.append(str(d.get("exception", {}).get("description") or d.get("text")))
            elif ev["method"] == "Runtime.consoleAPICalled" and ev["params"].get("type") == "error":
                out.append(" ".join(str(a.get("value", a.get("description", ""))) for a in ev["params"]["args"]))
        return out


def file_url(path: str | Path) -> str:
    return Path(path).resolve().as_uri()
