"""Shared test setup: telemetry off, a small simulated chain, temporary lakes, a local S3, and
the split of the suite over two pytest-xdist workers (``make test`` runs ``pytest -n 2``)."""

from __future__ import annotations

import os
import shutil
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


# --- Two workers (pytest-xdist) -------------------------------------------------------------
# `make test` runs `pytest -n 2 --dist loadgroup`: the suite spends most of its time in child
# processes (kedro runs, dbt builds) that use one core each, so two workers roughly halve it.
# Three things keep the workers out of each other's way:
# - each worker's dbt runs keep their target folder (partial parse, manifest, compiled SQL, the
#   start-up caches of warehouse/dbt.py) apart, under dbt_athena/target/pytest-<worker>;
# - the lineage manifest that pipeline registration reads is made once, by the controller,
#   before the workers start (two workers parsing into one folder would race);
# - a module's tests stay on one worker (its module fixtures are built once), and every module
#   that uses a session fixture of a test folder's conftest (a platform built once, moto with
#   Step Functions, a landed lake) runs on the worker that builds it. The workers, which see
#   the fixtures, write module -> group to a file; the controller's scheduler reads it. (xdist's
#   own `xdist_group` marks cannot do this under pytest 9: they rename the node id, which
#   pytest 9 no longer allows, and the marks are silently ignored.)
# `pytest` alone (no -n) runs everything in this process, as before.
GROUPS_FILE = "RETAILOPS_TEST_GROUPS"


def _worker_dbt_target(worker: str) -> None:
    target = PROJECT_ROOT / "dbt_athena" / "target" / f"pytest-{worker}"
    target.mkdir(parents=True, exist_ok=True)
    # Start from the shared folder's saved parse and start-up caches (dbt re-parses when they
    # do not fit: they only save time).
    shared = PROJECT_ROOT / "dbt_athena" / "target"
    for kept in [shared / "partial_parse.msgpack", *shared.glob("json_schemas.*"),
                 *shared.glob("jinja_code.*")]:
        if kept.is_file() and not (target / kept.name).exists():
            shutil.copy2(kept, target / kept.name)
    os.environ["DBT_TARGET_PATH"] = str(target)


def pytest_configure(config: pytest.Config) -> None:
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker:
        _worker_dbt_target(worker)
    elif getattr(config.option, "numprocesses", None):
        import tempfile

        from retailops.warehouse.lineage import ensure_manifest

        ensure_manifest()
        folder = tempfile.mkdtemp(prefix="retailops-test-groups-")
        os.environ[GROUPS_FILE] = os.path.join(folder, "groups.json")  # the workers inherit it


def pytest_unconfigure(config: pytest.Config) -> None:
    path = os.environ.get(GROUPS_FILE)
    if path and not os.environ.get("PYTEST_XDIST_WORKER"):
        shutil.rmtree(os.path.dirname(path), ignore_errors=True)


def _folder_session_fixture(item: pytest.Item, root_conftest_dir: str) -> str | None:
    """The folder of the first session fixture from a test folder's conftest this test uses."""
    info = getattr(item, "_fixtureinfo", None)
    for name in getattr(item, "fixturenames", ()):
        defs = info.name2fixturedefs.get(name) if info else None
        if defs and defs[-1].scope == "session" and defs[-1].baseid not in ("", root_conftest_dir):
            return defs[-1].baseid
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    path = os.environ.get(GROUPS_FILE)
    if not (os.environ.get("PYTEST_XDIST_WORKER") and path):
        return
    import json

    root = Path(__file__).parent.relative_to(config.rootpath).as_posix()
    group: dict[str, str] = {}
    for item in items:
        module = item.nodeid.split("::")[0]
        shared = _folder_session_fixture(item, root)
        if shared:
            group[module] = shared
        else:
            group.setdefault(module, module)
    staged = f"{path}.{os.environ['PYTEST_XDIST_WORKER']}"
    Path(staged).write_text(json.dumps(group))
    os.replace(staged, path)  # both workers write the same map; the controller reads it whole


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """`--dist loadgroup`: schedule whole groups (see above) instead of xdist's marks."""
    if config.getvalue("dist") != "loadgroup":
        return None
    import json

    from xdist.scheduler import LoadScopeScheduling

    class ByGroup(LoadScopeScheduling):
        groups: dict[str, str] | None = None

        def _split_scope(self, nodeid: str) -> str:
            if self.groups is None:  # read once, after every worker has collected
                self.groups = json.loads(Path(os.environ[GROUPS_FILE]).read_text())
            module = nodeid.split("::")[0]
            return self.groups.get(module, module)

    return ByGroup(config, log)
