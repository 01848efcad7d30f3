"""Installed Kedro plugins cost nothing to a command that does not use them.

kedro-mlflow's CLI group and session hook are entry points Kedro loads eagerly, and both import
mlflow (seconds, and a warning on stderr). ``retailops.plugins`` defers them; these tests run
``kedro`` as a user does and look at what the process imported.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

from tests.conftest import KEDRO, PROJECT_ROOT


def _imported_modules(*kedro_args: str) -> tuple[set[str], subprocess.CompletedProcess]:
    run = subprocess.run([sys.executable, "-X", "importtime", "-m", "kedro", *kedro_args],
                         cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300,
                         env={**os.environ, "KEDRO_DISABLE_TELEMETRY": "1"})
    modules = {line.rsplit("|", 1)[1].strip() for line in run.stderr.splitlines()
               if line.startswith("import time:") and line.count("|") == 2}
    return modules, run


def test_a_kedro_run_that_does_not_forecast_never_imports_mlflow():
    assert importlib.util.find_spec("kedro_mlflow") is not None  # the plugin is installed
    modules, run = _imported_modules("run", "--pipelines", "ingest",
                                     "--params", "start_date=2024-13-01")
    assert run.returncode == 2, run.stderr[-2000:]
    assert "mlflow" not in modules
    messages = [line for line in run.stderr.splitlines() if not line.startswith("import time:")]
    assert not [line for line in messages if "Warning" in line], messages


def test_the_kedro_mlflow_commands_still_work():
    run = subprocess.run([KEDRO, "mlflow", "--help"], cwd=PROJECT_ROOT, capture_output=True,
                         text=True, timeout=300, env={**os.environ, "KEDRO_DISABLE_TELEMETRY": "1"})
    assert run.returncode == 0, run.stderr[-2000:]
    assert "ui" in run.stdout and "Opens the mlflow user interface" in run.stdout
