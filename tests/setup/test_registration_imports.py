"""Registering the pipelines costs no dbt import.

Every ``kedro`` command registers pipelines before it does anything; a daily run then pays dbt's
import (seconds) only when its transform node invokes dbt. The transform pipeline's lineage
comes from ``manifest.json`` read as JSON, and the dbt-duckdb plugin class is only built when
dbt itself asks for it. The check runs in a new process, as a user's command would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.conftest import PROJECT_ROOT

PROBE = """
import json, sys
from kedro.framework.startup import bootstrap_project
bootstrap_project(sys.argv[1])
from retailops.pipeline_registry import register_pipelines
pipelines = register_pipelines()
print(json.dumps({"pipelines": sorted(pipelines),
                  "dbt": sorted(m for m in sys.modules if m == "dbt" or m.startswith("dbt."))}))
"""


def _register_in_a_new_process() -> dict:
    run = subprocess.run([sys.executable, "-c", PROBE, str(PROJECT_ROOT)], cwd=PROJECT_ROOT,
                         capture_output=True, text=True, timeout=300,
                         env={**os.environ, "KEDRO_DISABLE_TELEMETRY": "1"})
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


def test_registering_every_pipeline_imports_no_dbt():
    from retailops.warehouse.lineage import ensure_manifest

    ensure_manifest()  # a fresh manifest, as the image ships one: parsing is dbt's job
    found = _register_in_a_new_process()
    assert {"daily", "transform", "forecast", "validate"} <= set(found["pipelines"])
    assert found["dbt"] == [], f"registering the pipelines imported {found['dbt'][:5]}"


def test_the_dbt_duckdb_plugin_is_still_found_by_dbt():
    """dbt-duckdb loads ``Plugin`` from the module the profile names; it must be its subclass."""
    run = subprocess.run(
        [sys.executable, "-c",
         "from dbt.adapters.duckdb.plugins import BasePlugin\n"
         "import retailops.warehouse.dbt_project as m\n"
         "assert hasattr(m, 'Plugin') and issubclass(m.Plugin, BasePlugin)\n"
         "assert m.Plugin is m.Plugin\n"
         "print('ok')"],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0 and run.stdout.strip() == "ok", run.stderr[-3000:]
