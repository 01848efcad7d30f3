"""What a daily run no longer pays for at start-up, each checked in a new process as a run is.

- dbt's JSON schemas (the project, its configuration, flags, selectors, profile, credentials,
  hook): kept in a file between processes, and the kept schemas are dbt's own.
- kedro-viz's run hooks (dataset statistics in ``.viz/stats.json``, which nothing reads): off
  unless ``RETAILOPS_KEDRO_VIZ_STATS=1``.
- Kedro's ``MemoryDataset`` (one per parameter) no longer imports pandas to infer its copy mode,
  and infers the same mode as Kedro does.
- dbt's compiled Jinja templates: kept between processes like its JSON schemas.
- dbt's behaviour flags: their source found without ``inspect.stack()``, with the same answer.
- ``kedro run``: the cyclic garbage collector runs less often (never off), in that process only.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.conftest import PROJECT_ROOT


def _python(code: str, *args: str, env: dict[str, str] | None = None) -> dict:
    run = subprocess.run([sys.executable, "-c", code, *args], cwd=PROJECT_ROOT, text=True,
                         capture_output=True, timeout=300,
                         env={**os.environ, "KEDRO_DISABLE_TELEMETRY": "1", **(env or {})})
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


WARM = """
import json, sys
from pathlib import Path
from mashumaro.jsonschema import build_json_schema
from retailops.warehouse import dbt
how = dbt.warm_json_schemas(Path(sys.argv[1]))
from dbt.contracts.project import Configuration
class Narrower(Configuration):
    pass
# dbt's own schemas, built here from the classes, compared with what the classes now answer.
same = all(json.loads(json.dumps(build_json_schema(cls).to_dict())) == cls.json_schema()
           for cls in (Configuration, Narrower))
print(json.dumps({"how": sorted(set(how.values())), "classes": sorted(how), "same": same,
                  "subclass_own": Narrower.json_schema() is not Configuration.json_schema()}))
"""


def test_dbts_json_schemas_are_kept_between_processes_and_are_dbts_own(tmp_path):
    cache = tmp_path / "target" / "json_schemas.test.json"
    first = _python(WARM, str(cache))
    assert first["how"] == ["built"] and cache.is_file()
    assert "dbt.contracts.project.Configuration" in first["classes"]  # validated every run
    second = _python(WARM, str(cache))
    assert second["how"] == ["cached"]
    assert second["same"] and second["subclass_own"]


def test_an_unreadable_or_incomplete_schema_file_is_rebuilt(tmp_path):
    cache = tmp_path / "json_schemas.test.json"
    for content in ("{not json", json.dumps({"dbt.contracts.project.Project": {}})):
        cache.write_text(content)
        found = _python(WARM, str(cache))
        assert found["how"] == ["built"] and found["same"]
        assert set(json.loads(cache.read_text())) == set(found["classes"])


HOOKS = """
import json, sys
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
bootstrap_project(sys.argv[1])
with KedroSession.create(project_path=sys.argv[1]) as session:
    # The hooks registered now (list_plugin_distinfo also lists the unregistered ones).
    plugins = sorted({type(hook).__module__.split(".")[0]
                      for hook in session._hook_manager.get_plugins()})
print(json.dumps({"plugins": plugins}))
"""


def test_kedro_viz_run_hooks_are_off_unless_asked_for():
    import importlib.util

    assert importlib.util.find_spec("kedro_viz") is not None  # installed locally
    found = _python(HOOKS, str(PROJECT_ROOT))["plugins"]
    assert "retailops" in found and "kedro_viz" not in found
    kept = _python(HOOKS, str(PROJECT_ROOT), env={"RETAILOPS_KEDRO_VIZ_STATS": "1"})
    assert "kedro_viz" in kept["plugins"]


MEMORY = """
import json, sys
import retailops.settings  # what Kedro imports first
from kedro.io import MemoryDataset
for value in ({"dbt": {"target": "duckdb"}}, [1, 2], "2025-07-01", None, 3):
    MemoryDataset(data=value).load()
print(json.dumps({"pandas": "pandas" in sys.modules}))
"""


def test_parameters_in_memory_datasets_import_no_pandas():
    assert _python(MEMORY) == {"pandas": False}


def test_memory_datasets_copy_as_kedro_would():
    import numpy as np
    import pandas as pd
    from kedro.io import memory_dataset

    from retailops.plugins import _copy_mode

    class DataFrame:  # Kedro assigns any class of that name (Spark's, Polars')
        pass

    kedro_own = memory_dataset._infer_copy_mode
    if kedro_own is _copy_mode:  # settings.py already swapped it in this process
        import importlib

        kedro_own = importlib.reload(memory_dataset)._infer_copy_mode
        memory_dataset._infer_copy_mode = _copy_mode
    for value in (pd.DataFrame({"a": [1]}), np.arange(3), DataFrame(), {"a": 1}, [1], "x"):
        assert _copy_mode(value) == kedro_own(value), type(value)
    assert [_copy_mode(v) for v in (pd.DataFrame(), np.arange(2), DataFrame(), {})] == [
        "copy", "copy", "assign", "deepcopy"]


FLAGS = """
import json, sys
sys.path.insert(0, sys.argv[1])
import dbt.cli.main
from dbt_common.behavior_flags import BehaviorFlagRendered
import flag_maker
from retailops.warehouse import dbt
own = flag_maker.make()
BehaviorFlagRendered._default_source = staticmethod(dbt._flag_source)
ours = flag_maker.make()
print(json.dumps({"own": own, "ours": ours}))
"""


def test_behaviour_flags_name_the_module_that_declared_them_as_dbt_does(tmp_path):
    (tmp_path / "flag_maker.py").write_text(
        "from dbt_common.behavior_flags import Behavior\n"
        "def make():\n"
        "    flags = Behavior([{'name': 'some_flag', 'default': False, 'description': 'd'}], {})\n"
        "    return flags.some_flag._behavior_change_event.flag_source\n")
    found = _python(FLAGS, str(tmp_path))
    assert found == {"own": "flag_maker", "ours": "flag_maker"}


TEMPLATES = """
import json, sys
from pathlib import Path
from dbt_common.clients.jinja import get_template, render_template
from retailops.warehouse import dbt
dbt._keep_compiled_templates(Path(sys.argv[1]))
source = "{% set doubled = n * 2 %}{% for i in range(1) %}{{ doubled }}{% endfor %}"
kept_before = len(dbt._TEMPLATE_CODE)
rendered = [render_template(get_template(source, {}), {"n": 21}),
            str(get_template(source, {}, native=True).render({"n": 4}))]
compiled = len(dbt._TEMPLATES_COMPILED)
dbt.save_compiled_templates()
print(json.dumps({"rendered": rendered, "kept_before": kept_before, "compiled": compiled}))
"""


def test_dbts_compiled_templates_are_kept_between_processes(tmp_path):
    cache = tmp_path / "jinja_code.test.marshal"
    first = _python(TEMPLATES, str(cache))
    # The plain and the native environment compile differently: two templates, both kept.
    assert first == {"rendered": ["42", "8"], "kept_before": 0, "compiled": 2}
    assert cache.is_file()
    second = _python(TEMPLATES, str(cache))
    assert second == {"rendered": ["42", "8"], "kept_before": 2, "compiled": 0}
    cache.write_bytes(b"not marshal")  # unreadable: compiled again, as dbt would
    assert _python(TEMPLATES, str(cache))["compiled"] == 2


def test_kedro_run_collects_cycles_less_often_and_only_in_its_own_process(monkeypatch):
    import gc

    from retailops import cli

    seen = []
    monkeypatch.setenv("RETAILOPS_DBT_WORKER", "0")  # no dbt worker forked from pytest
    monkeypatch.setattr(cli.kedro_run, "callback", lambda **kwargs: seen.append(
        gc.get_threshold()))
    before = gc.get_threshold()
    try:
        cli._run()
        assert seen == [cli.RUN_GC_THRESHOLDS] and cli.RUN_GC_THRESHOLDS[0] > before[0]
    finally:
        gc.set_threshold(*before)
    assert gc.isenabled()  # collected less often, never switched off


def test_a_builds_dbt_log_file_is_at_info_unless_asked_for(monkeypatch, tmp_path):
    from types import SimpleNamespace

    from retailops.warehouse import dbt

    calls = []

    def fake_invoke(args, target, env=None, manifest=None):
        calls.append(args)
        return SimpleNamespace(result=SimpleNamespace(results=[]), success=True,
                               exception=None)

    monkeypatch.setattr(dbt, "invoke", fake_invoke)
    monkeypatch.delenv("DBT_LOG_LEVEL_FILE", raising=False)
    summary = dbt.build(str(tmp_path), "duckdb", selector="daily")
    assert calls[-1][-2:] == ["--log-level-file", "info"]
    assert "log-level" not in summary["command"]
    # ... and the forecast marts' tests (the forecast step's dbt call) too.
    summary = dbt.run_forecast_tests(str(tmp_path), "duckdb", "2024-07-02")
    assert calls[-1][0] == "test" and calls[-1][-2:] == ["--log-level-file", "info"]
    assert "log-level" not in summary["command"]
    monkeypatch.setenv("DBT_LOG_LEVEL_FILE", "debug")  # dbt reads its own variable
    dbt.build(str(tmp_path), "duckdb", selector="daily")
    assert "--log-level-file" not in calls[-1]
    dbt.run_forecast_tests(str(tmp_path), "duckdb", "2024-07-02")
    assert "--log-level-file" not in calls[-1]
