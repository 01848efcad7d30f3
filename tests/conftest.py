"""Shared test setup: telemetry off, a small simulated chain, temporary lakes, a local S3."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

os.environ["KEDRO_DISABLE_TELEMETRY"] = "1"
os.environ["DO_NOT_TRACK"] = "1"

PROJECT_ROOT = Path(__file__).resolve().parents[1]
KEDRO = str(Path(sys.executable).with_name("kedro"))


def run_kedro(*args: str, env: dict[str, str] | None = None, cwd: Path = PROJECT_ROOT,
              timeout: int = 600) -> subprocess.CompletedProcess:
    """Run the ``kedro`` command line of this project, as a user would."""
    full_env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1", **(env or {})}
    return subprocess.run([KEDRO, *args], cwd=cwd, env=full_env, capture_output=True, text=True,
                          timeout=timeout)


def conf_with_lake(tmp_path: Path, lake_root: str, extra: dict[str, str] | None = None) -> Path:
    """A copy of the project's conf/ whose lake (and warehouse) live under ``tmp_path``."""
    import shutil

    conf = tmp_path / "conf"
    shutil.copytree(PROJECT_ROOT / "conf", conf, ignore=shutil.ignore_patterns("local"))
    (conf / "local").mkdir()
    lines = [f"lake_root: {lake_root}",
             f"warehouse_path: {tmp_path / 'warehouse' / 'retailops.duckdb'}",
             f"serving_path: {tmp_path / 'warehouse' / 'serving.duckdb'}",
             f"reports_dir: {tmp_path / 'reports'}"]
    lines += [f"{k}: {v}" for k, v in (extra or {}).items()]
    (conf / "base" / "globals.yml").write_text("\n".join(lines) + "\n")
    return conf


@pytest.fixture(scope="session")
def s3_endpoint():
    """A real S3 endpoint over HTTP: moto's server mode on a free local port."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def aws_env(s3_endpoint, monkeypatch):
    """Environment pointing boto3/s3fs at the local S3 server with dummy credentials."""
    env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": s3_endpoint}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
