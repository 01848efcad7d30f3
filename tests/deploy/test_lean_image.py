"""The image installs only the runtime dependencies (pyproject's ``dependencies``); the local
platform's packages (the ``local`` extra: kedro-viz, dbt-duckdb, duckdb, plotly, metabase-api)
stay out. The daily stages must work without them: here they run with those packages hidden
(a ``sitecustomize`` that makes their modules unimportable and their distributions invisible,
as in the image): ingest lands a day in moto's S3 for real; transform, validate and publish,
which need Athena, are loaded as a run loads them (pipelines, every catalog dataset they use,
dbt's athena parse)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import boto3
import pytest

from tests.deploy.cfn_render import REPO

# Distribution -> the module it provides (what `import` would look for).
LOCAL_ONLY = {"kedro-viz": "kedro_viz", "dbt-duckdb": "dbt.adapters.duckdb", "duckdb": "duckdb",
              "plotly": "plotly", "metabase-api": "metabase_api"}

SITECUSTOMIZE = """
import importlib.abc, importlib.metadata, sys
HIDDEN_MODULES = {modules!r}
HIDDEN_DISTS = {dists!r}

class _NotInTheImage(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if any(name == m or name.startswith(m + ".") for m in HIDDEN_MODULES):
            raise ModuleNotFoundError(f"No module named {{name!r}} (not in the AWS image)", name=name)
        return None

sys.meta_path.insert(0, _NotInTheImage())
_distributions = importlib.metadata.distributions

def _visible(**kwargs):
    for dist in _distributions(**kwargs):
        name = (dist.metadata["Name"] or "").lower().replace("_", "-")
        if name not in HIDDEN_DISTS:
            yield dist

importlib.metadata.distributions = _visible
"""


def requirement_name(requirement: str) -> str:
    return requirement.split(";")[0].split("[")[0].split("<")[0].split(">")[0].split("=")[0] \
        .split("!")[0].split("~")[0].strip().lower()


def test_the_local_packages_are_an_extra_and_not_runtime_dependencies():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    runtime = {requirement_name(r) for r in project["dependencies"]}
    local = {requirement_name(r) for r in project["optional-dependencies"]["local"]}
    assert local == set(LOCAL_ONLY)
    assert not runtime & local
    # The image installs the wheel without extras, and the Makefile installs `local` for the
    # local platform (make run / make test).
    dockerfile = (REPO / "deploy" / "ecs" / "Dockerfile").read_text()
    assert "retailops-*-py3-none-any.whl \\" in dockerfile or "retailops-*-py3-none-any.whl\n" in dockerfile
    assert "whl[" not in dockerfile
    assert "'.[local]'" in (REPO / "Makefile").read_text()


@pytest.fixture()
def hidden(tmp_path: Path) -> dict[str, str]:
    """Environment for a subprocess in which the local-only packages do not exist."""
    folder = tmp_path / "hide"
    folder.mkdir()
    (folder / "sitecustomize.py").write_text(SITECUSTOMIZE.format(
        modules=sorted(LOCAL_ONLY.values()), dists=sorted(LOCAL_ONLY)))
    return {"PYTHONPATH": str(folder), "KEDRO_DISABLE_TELEMETRY": "1", "DO_NOT_TRACK": "1"}


def test_the_hiding_works(hidden: dict[str, str]):
    probe = ("import importlib.metadata as m\n"
             "for name in ('duckdb', 'plotly', 'kedro_viz', 'metabase_api', 'dbt.adapters.duckdb'):\n"
             "    try:\n        __import__(name)\n        print('imported', name)\n"
             "    except ModuleNotFoundError:\n        pass\n"
             "print(sorted(d.metadata['Name'].lower() for d in m.distributions()\n"
             "             if d.metadata['Name'].lower() in ('duckdb', 'kedro-viz', 'plotly')))\n")
    out = subprocess.run([sys.executable, "-c", probe], env={**os.environ, **hidden},
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_ingest_lands_a_day_in_s3_without_the_local_packages(hidden: dict[str, str], aws_env: dict[str, str],
                                                             tmp_path: Path):
    bucket = "retailops-lean-lake-123456789012-eu-west-1"
    s3 = boto3.client("s3", endpoint_url=aws_env["AWS_ENDPOINT_URL"])
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    base = {k: v for k, v in os.environ.items() if not k.startswith("RETAILOPS_")}
    out = subprocess.run(
        [sys.executable, "-m", "retailops", "--env", "aws", "--pipelines", "ingest",
         "--params", "run_date=2024-07-03,scale=0.02"],
        cwd=REPO, env={**base, **aws_env, **hidden, "RETAILOPS_LAKE_BUCKET": bucket},
        capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]}
    for table in ("sales", "inventory", "shipments"):
        assert f"raw/{table}/dt=2024-07-03/{table}.csv" in keys
        assert f"metadata/manifests/{table}/dt=2024-07-03/manifest.json" in keys


LOAD_DAILY = """
import json, os, sys
from pathlib import Path
from kedro.framework.project import pipelines
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
bootstrap_project(Path.cwd())
# The image build's parse comes first (the Dockerfile): the transform pipeline then reads
# dbt's lineage from that manifest instead of parsing with the duckdb target.
from retailops.deployment import athena_environment, parse_dbt
parse_dbt({**os.environ, **athena_environment()})
with KedroSession.create(env="aws") as session:
    context = session.load_context()
    pipelines.set_requested(["daily"])  # as `kedro run --pipelines daily` does
    daily = pipelines["daily"]
    loaded = []
    for name in sorted(daily.datasets()):
        if name.startswith("params:") or name == "parameters":
            continue
        if context.catalog.get(name) is not None:  # None: a memory dataset between nodes
            loaded.append(name)
    print(json.dumps({"nodes": len(daily.nodes), "datasets": loaded,
                      "modules": sorted(m for m in sys.modules if m.split(".")[0] in
                                        ("duckdb", "plotly", "kedro_viz", "metabase_api"))}))
"""


def test_the_daily_stages_load_without_the_local_packages(hidden: dict[str, str], tmp_path: Path):
    """Transform, validate and publish need Athena to run: what a run does before its first
    query is done here (pipelines built, every catalog dataset they use created, dbt parsed
    for the athena target) with the local packages hidden."""
    project = tmp_path / "dbt_athena"
    import shutil

    shutil.copytree(REPO / "dbt_athena", project,
                    ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    # The image sets no DBT_TARGET_PATH (a pytest-xdist worker does: tests/conftest.py).
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("RETAILOPS_", "AWS_")) and k != "DBT_TARGET_PATH"}
    env = {**base, **hidden, "RETAILOPS_LAKE_BUCKET": "retailops-lean-lake-123456789012-eu-west-1",
           "RETAILOPS_DBT_PROJECT_DIR": str(project), "AWS_ACCESS_KEY_ID": "testing",
           "AWS_SECRET_ACCESS_KEY": "testing"}
    # The hook derives the other deployment variables from the bucket, as on a laptop.
    out = subprocess.run([sys.executable, "-c", LOAD_DAILY], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    found = json.loads(out.stdout.strip().splitlines()[-1])
    assert found["modules"] == []
    assert found["nodes"] > 10
    assert {"warehouse", "serving_warehouse", "fct_daily_sales"} <= set(found["datasets"])
