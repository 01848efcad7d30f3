"""Fixtures for the lineage-browsing tests: ``kedro viz run`` as a user starts it.

Lineage needs no data (kedro-viz reads the pipelines and the catalog, not the datasets), so
these tests do not wait for the session's platform build.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import KEDRO, PROJECT_ROOT


@dataclass
class VizServer:
    """``kedro viz run`` in its own process group (it spawns a child server)."""

    process: subprocess.Popen
    port: int
    log: Path
    stopped: bool = field(default=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def get_json(self, path: str) -> dict:
        with urllib.request.urlopen(self.url + path, timeout=30) as response:
            return json.load(response)

    def group_alive(self) -> bool:
        try:
            os.killpg(self.process.pid, 0)
        except ProcessLookupError:
            return False
        return True

    def stop(self) -> None:
        """End the whole process group: the CLI and the server it spawned."""
        if self.stopped:
            return
        self.stopped = True
        if self.group_alive():
            os.killpg(self.process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        while self.group_alive() and time.monotonic() < deadline:
            self.process.poll()  # reap the CLI so it does not linger as a zombie
            time.sleep(0.2)
        if self.group_alive():
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=20)


def registered_free_port() -> int:
    """A free port below 49152: kedro-viz refuses the ephemeral range the OS hands out."""
    for _ in range(100):
        port = random.randint(20000, 45000)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port for kedro viz")


def _wait_until_serving(server: VizServer, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise AssertionError(f"kedro viz exited ({server.process.returncode}):\n"
                                 + server.log.read_text()[-3000:])
        try:
            server.get_json("/api/main")
            return
        except (urllib.error.URLError, ConnectionError, TimeoutError, json.JSONDecodeError):
            time.sleep(0.5)
    raise AssertionError(f"kedro viz did not serve /api/main on port {server.port} within "
                         f"{timeout:.0f} s:\n" + server.log.read_text()[-3000:])


@pytest.fixture(scope="session")
def viz_server(tmp_path_factory: pytest.TempPathFactory):
    port = registered_free_port()
    log = tmp_path_factory.mktemp("viz") / "kedro_viz.log"
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1", "DO_NOT_TRACK": "1"}
    with log.open("w") as sink:
        process = subprocess.Popen(
            [KEDRO, "viz", "run", "--no-browser", "--host", "127.0.0.1", "--port", str(port)],
            cwd=PROJECT_ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT,
            start_new_session=True)
    server = VizServer(process=process, port=port, log=log)
    try:
        _wait_until_serving(server)
        yield server
    finally:
        server.stop()
