"""Fixtures of the deployment checks: the lint tools, one checkov scan, one moto server.

checkov and the Step Functions interpreter of moto cannot live in the project's venv (checkov's
pins conflict with the runtime stack; moto's ASL parser needs antlr4 4.13 while kedro's omegaconf
pins 4.9), so each has its own venv. A missing one is a failure with the command that creates it.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.deploy.cfn_render import CFN_DIR, REPO

LINT_VENV = REPO / ".venv-lint"
MOTO_VENV = REPO / ".venv-moto"
SETUP_LINT = "make .venv-lint/.installed"
SETUP_MOTO = "make .venv-moto/.installed"
DOCKERFILE = REPO / "deploy" / "ecs" / "Dockerfile"


def tool(name: str) -> str:
    """A linter installed beside the running interpreter (the project's venv)."""
    path = Path(sys.executable).parent / name
    if path.exists():
        return str(path)
    found = shutil.which(name)
    if not found:
        pytest.fail(f"{name} is not installed: pip install -e '.[test]'")
    return found


def lint_tool(name: str) -> str:
    path = LINT_VENV / "bin" / name
    if not path.exists():
        pytest.fail(f"{path} is missing; create the lint venv from the repository root: {SETUP_LINT}")
    return str(path)


@pytest.fixture(scope="session")
def checkov_results() -> list[dict]:
    """One checkov run over every template and the Dockerfile (it is slow: ~20 s)."""
    checkov = lint_tool("checkov")
    out = subprocess.run(
        # deploy/ holds the templates (cfn/) and the Dockerfile (ecs/).
        [checkov, "--skip-download", "-o", "json", "--framework", "cloudformation", "dockerfile",
         "-d", str(CFN_DIR.parent)],
        capture_output=True, text=True, cwd=REPO, timeout=300,
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false"},
    )
    assert out.stdout.strip(), f"checkov printed nothing (exit {out.returncode}): {out.stderr[-2000:]}"
    report = json.loads(out.stdout)
    return report if isinstance(report, list) else [report]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    """moto in server mode (its own venv) with Step Functions execution switched on."""
    server = MOTO_VENV / "bin" / "moto_server"
    if not server.exists():
        pytest.fail(f"{server} is missing; create the moto venv from the repository root: {SETUP_MOTO}")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    # MOTO_PORT: the interpreter's aws-sdk integrations (the state machine's concurrency guard)
    # call back into this server through it.
    proc = subprocess.Popen([str(server), "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "MOTO_PORT": str(port)})
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{url}/moto-api/", timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"moto server did not start on {url}")
                time.sleep(0.2)
        request = urllib.request.Request(
            f"{url}/moto-api/config", method="POST",
            data=json.dumps({"stepfunctions": {"execute_state_machine": True}}).encode(),
            headers={"Content-Type": "application/json"})
        # moto's GET of the config does not echo the stepfunctions section; the execution
        # histories asserted by the tests show that the interpreter ran.
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 201
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture()
def aws_env(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Credentials and endpoint for boto3 clients (and subprocesses) pointed at moto."""
    values = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
              "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": "eu-west-1",
              "AWS_REGION": "eu-west-1", "AWS_ENDPOINT_URL": moto_url}
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return values
