"""dbt is parsed once, when the image is built for a deployment, and a run never re-parses.

The Dockerfile's parse step (``python -m retailops.deployment parse-dbt``) runs here on a copy
of the dbt project with a deployment's build values; then "a run" calls dbt the way the
transform stage does (``retailops.warehouse.dbt.invoke`` with the same vars, target athena),
with the per-day values a run sets (``RETAILOPS_RUN_DATE``, ``RETAILOPS_REBUILD_DAYS``), and
dbt's own log must say that partial parsing found nothing to do. A run whose deployment
values differ from the build's is shown re-parsing, so the log check can fail.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.deploy.cfn_render import REPO

BUILD = {
    "RETAILOPS_PREFIX": "retailops-dev",
    "RETAILOPS_LAKE_BUCKET": "retailops-dev-lake-123456789012-eu-west-1",
    "RETAILOPS_ATHENA_WORK_GROUP": "retailops-dev",
    "RETAILOPS_ATHENA_SCHEMA": "retailops_dev",
    "RETAILOPS_ATHENA_S3_STAGING_DIR": "s3://retailops-dev-athena-results-123456789012-eu-west-1/results/",
    "RETAILOPS_ATHENA_S3_DATA_DIR": "s3://retailops-dev-lake-123456789012-eu-west-1/curated/_dbt_tmp/",
    "RETAILOPS_AWS_REGION": "eu-west-1",
    "AWS_REGION": "eu-west-1",
    "AWS_DEFAULT_REGION": "eu-west-1",
}

# What the transform stage's dbt.build does, minus the AWS calls: `dbt ls` parses (or reuses
# the saved parse) exactly as `dbt build` would, with the same vars and run-time variables.
RUN = """
import json, os, sys
from retailops.warehouse import dbt
from retailops.warehouse.dbt_project import dbt_vars
result = dbt.invoke(["ls", "--vars", json.dumps(dbt_vars("s3://" + os.environ["RETAILOPS_LAKE_BUCKET"]))],
                    "athena", env={"RETAILOPS_RUN_DATE": sys.argv[1], "RETAILOPS_REBUILD_DAYS": sys.argv[2]})
sys.exit(0 if result.success else 1)
"""
SKIPPED = "Partial parsing enabled, no changes found, skipping parsing"


def clean_env(project: Path, values: dict[str, str]) -> dict[str, str]:
    # The image sets no DBT_TARGET_PATH (a pytest-xdist worker does: tests/conftest.py).
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("RETAILOPS_", "AWS_")) and k != "DBT_TARGET_PATH"}
    return {**base, "KEDRO_DISABLE_TELEMETRY": "1", "DO_NOT_TRACK": "1",
            "RETAILOPS_DBT_PROJECT_DIR": str(project), **values}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of dbt_athena/ parsed as the image build parses it."""
    project = tmp_path_factory.mktemp("image") / "dbt_athena"
    shutil.copytree(REPO / "dbt_athena", project,
                    ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    out = subprocess.run([sys.executable, "-m", "retailops.deployment", "parse-dbt"],
                         cwd=project.parent, env=clean_env(project, BUILD),
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert (project / "target" / "partial_parse.msgpack").is_file()
    return project


def run_log(project: Path, values: dict[str, str], run_date: str, rebuild_days: str) -> str:
    """dbt's log file of one run (dbt appends to logs/dbt.log; only this run's part)."""
    log = project / "logs" / "dbt.log"
    start = log.stat().st_size if log.exists() else 0
    out = subprocess.run([sys.executable, "-c", RUN, run_date, rebuild_days], cwd=project.parent,
                         env=clean_env(project, values), capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return log.read_bytes()[start:].decode()


def test_a_run_of_the_image_reuses_the_build_time_parse(built: Path):
    for run_date, rebuild_days in (("2024-07-03", "2024-07-01,2024-07-03"), ("2025-01-15", "none")):
        log = run_log(built, BUILD, run_date, rebuild_days)
        assert SKIPPED in log, log[-3000:]
        assert "Unable to do partial parsing" not in log
        assert "Partial parsing: " not in log  # no file re-parsed


def test_a_run_with_other_deployment_values_would_re_parse(built: Path):
    """The check above can fail: a task that set another workgroup than the build's would
    make dbt parse the whole project again (which is why the task definition sets none)."""
    log = run_log(built, {**BUILD, "RETAILOPS_ATHENA_WORK_GROUP": "primary"}, "2024-07-03", "none")
    assert SKIPPED not in log
    assert "Unable to do partial parsing because" in log


def test_the_image_build_refuses_to_parse_without_its_build_args(tmp_path: Path):
    values = {k: v for k, v in BUILD.items() if k != "RETAILOPS_ATHENA_WORK_GROUP"}
    out = subprocess.run([sys.executable, "-m", "retailops.deployment", "parse-dbt"],
                         cwd=tmp_path, env=clean_env(tmp_path / "none", values),
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    assert out.stderr.strip() == ("retailops: error: cannot parse dbt for a deployment: "
                                  "RETAILOPS_ATHENA_WORK_GROUP not set")
