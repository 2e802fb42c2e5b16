"""One resplay process for a whole test session, steered per test through
its control API (``--admin``): it starts idle, and each test switches it to
record or replay its own cassette, then back to idle."""

from __future__ import annotations

import collections
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import sysconfig
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Deque, Dict, List, Optional, Sequence

EXE = "resplay.exe" if sys.platform == "win32" else "resplay"

NOT_FOUND = (
    "cannot find the resplay binary. Install the resplay wheel into this "
    "environment (`pip install resplay`: it puts `resplay` on PATH), or set "
    "RESPLAY_BIN=/path/to/resplay, or build it from a checkout "
    "(`cargo install --path .`)."
)


class ResplayError(Exception):
    """Something the user can fix: the message says what."""


def find_binary() -> str:
    """``RESPLAY_BIN``, then the one this package's wheel installed next to
    the running Python (found even when the environment is not activated),
    then ``resplay`` on PATH."""
    env = os.environ.get("RESPLAY_BIN")
    if env:
        if os.path.isfile(env) and os.access(env, os.X_OK):
            return os.path.abspath(env)
        raise ResplayError(f"RESPLAY_BIN={env} is not an executable file")
    candidates = [sysconfig.get_path("scripts"), os.path.dirname(sys.executable)]
    for directory in candidates:
        if directory:
            path = os.path.join(directory, EXE)
            if os.path.isfile(path) and os.access(path, os.X_OK):
                return path
    found = shutil.which("resplay")
    if found:
        return found
    raise ResplayError(NOT_FOUND)


# Loopback requests must never go through an HTTP proxy from the environment.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class Server:
    """A ``resplay replay --admin`` process started idle, with an upstream
    when one is known (recording needs it)."""

    def __init__(
        self,
        upstream: Optional[str] = None,
        binary: Optional[str] = None,
        extra_args: Sequence[str] = (),
    ) -> None:
        self.upstream = upstream
        self.binary = binary or find_binary()
        self.extra_args = list(extra_args)
        self.log: Deque[str] = collections.deque(maxlen=200)
        self.proc: Optional[subprocess.Popen] = None
        self.admin = ""
        self.host = "127.0.0.1"
        self.port = 0
        #: Seconds the process took to start and listen.
        self.start_seconds = 0.0

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}"

    def start(self, timeout: float = 20.0) -> "Server":
        args = [
            self.binary,
            "replay",
            "--listen",
            "127.0.0.1:0",
            "--admin",
            "127.0.0.1:0",
        ]
        if self.upstream:
            args += ["--upstream", self.upstream]
        args += self.extra_args
        started = time.monotonic()
        try:
            self.proc = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
                errors="replace",
            )
        except OSError as e:
            raise ResplayError(f"cannot run {self.binary}: {e}. {NOT_FOUND}") from e
        lines: "queue.Queue[Optional[str]]" = queue.Queue()

        def pump() -> None:
            assert self.proc is not None and self.proc.stderr is not None
            for line in self.proc.stderr:
                line = line.rstrip("\n")
                self.log.append(line)
                lines.put(line)
            lines.put(None)

        threading.Thread(target=pump, name="resplay-stderr", daemon=True).start()
        deadline = started + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                self.stop()
                raise ResplayError(f"resplay did not start within {timeout:.0f} s: {self.log_text()}")
            try:
                line = lines.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                code = self.proc.wait()
                raise ResplayError(f"resplay exited with status {code} at start: {self.log_text()}")
            if line.startswith("resplay: control API on http://"):
                self.admin = line.split("http://", 1)[1].strip()
            elif line.startswith("resplay: listening on "):
                addr = line.split("listening on ", 1)[1].strip()
                host, _, port = addr.rpartition(":")
                self.host, self.port = host.strip("[]"), int(port)
                break
        if not self.admin:
            self.stop()
            raise ResplayError(f"resplay did not announce its control API: {self.log_text()}")
        self.start_seconds = time.monotonic() - started
        return self

    def log_text(self) -> str:
        return "\n".join(self.log) or "(no output)"

    def _request(self, method: str, path: str, body: Optional[Dict[str, Any]] = None) -> Any:
        if self.proc is None or self.proc.poll() is not None:
            raise ResplayError(f"resplay is not running: {self.log_text()}")
        data = None if body is None else json.dumps(body).encode()
        # The API takes writes only as JSON (a page in a browser cannot post
        # that without asking), and its token when resplay was given one.
        headers = {"content-type": "application/json"}
        token = os.environ.get("RESPLAY_ADMIN_TOKEN")
        if token:
            headers["authorization"] = f"Bearer {token}"
        request = urllib.request.Request(
            f"http://{self.admin}{path}",
            data=data,
            method=method,
            headers=headers,
        )
        try:
            with _OPENER.open(request, timeout=60) as answer:
                return json.loads(answer.read() or b"null")
        except urllib.error.HTTPError as e:
            text = e.read().decode(errors="replace")
            try:
                text = json.loads(text)["error"]
            except (ValueError, KeyError, TypeError):
                pass
            raise ResplayError(f"resplay refused {method} {path}: {text}") from None
        except urllib.error.URLError as e:
            raise ResplayError(
                f"cannot reach resplay's control API at {self.admin}: {e.reason}"
            ) from None

    def status(self) -> Dict[str, Any]:
        return self._request("GET", "/status")

    def switch(self, mode: str, cassette: Optional[str] = None, **options: Any) -> Dict[str, Any]:
        """``POST /mode``; ``options`` are its other fields (``append``,
        ``record_misses``, ``ignore``, ``timing``)."""
        body: Dict[str, Any] = {"mode": mode}
        if cassette is not None:
            body["cassette"] = os.path.abspath(cassette)
        body.update({k: v for k, v in options.items() if v not in (None, False, [], ())})
        return self._request("POST", "/mode", body)

    def idle(self) -> str:
        """Ends the current mode; returns resplay's report on it."""
        return self.switch("idle")["previous"]

    def journal(self, pattern: Optional[str] = None, since: int = 0) -> Dict[str, Any]:
        """``GET /journal``: the calls after id ``since`` that fit ``pattern``
        (the ``--ignore`` syntax; none: every call)."""
        query: Dict[str, Any] = {"since": since}
        if pattern:
            query["pattern"] = pattern
        return self._request("GET", "/journal?" + urllib.parse.urlencode(query))

    def clear_journal(self) -> int:
        """``DELETE /journal``: forgets every call; returns the last id given."""
        return int(self._request("DELETE", "/journal")["last"])

    def add_stubs(self, stubs: List[Dict[str, Any]]) -> List[int]:
        """``POST /stubs``: adds them (all or none); returns their ids."""
        return list(self._request("POST", "/stubs", stubs)["ids"])

    def clear_stubs(self) -> None:
        """``DELETE /stubs``."""
        self._request("DELETE", "/stubs")

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def plan(mode: str, exists: bool) -> List[str]:
    """What a test does with its cassette under a pytest-recording mode:
    ``["record"]``, ``["replay"]`` or ``["replay", "record_misses"]``;
    ``[]`` when ``none`` finds no cassette."""
    if mode == "all" or (mode in ("once", "new_episodes") and not exists):
        return ["record"]
    if mode == "new_episodes":
        return ["replay", "record_misses"]
    if exists:
        return ["replay"]
    return []
