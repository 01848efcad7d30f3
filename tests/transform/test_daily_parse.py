"""A new day's daily run does not re-parse the dbt project.

dbt saves its parse (``partial_parse.msgpack``) and re-reads every file whose inputs changed:
a changed ``--vars`` value re-parses everything, and a model that reads an environment variable
while it is parsed is re-parsed whenever the value changes. The day reaches dbt as env
``RETAILOPS_RUN_DATE``/``RETAILOPS_REBUILD_DAYS`` and is read only while models run, so the
second of two consecutive daily runs finds nothing to parse. dbt's own log says which: this
test reads it (``DBT_LOG_PATH``), with the parse kept in the test's folder
(``DBT_TARGET_PATH``) so no other dbt run on the machine touches it.
"""

from __future__ import annotations

from pathlib import Path

from tests.conftest import run_kedro
from tests.platform_fixture import make_project


def _daily(conf: Path, env: dict[str, str], day: str) -> str:
    run = run_kedro("run", "--conf-source", str(conf), "--pipelines", "daily",
                    "--params", f"run_date={day},scale=0.01", env=env, timeout=600)
    log = run.stderr + run.stdout
    assert run.returncode == 0, log[-4000:]
    return log


def _parse_lines(text: str) -> list[str]:
    return [line for line in text.splitlines()
            if "partial pars" in line.lower() or "full parse" in line.lower()]


def test_a_new_days_daily_run_does_not_reparse(tmp_path):
    conf, _ = make_project(tmp_path / "project")
    dbt_log = tmp_path / "dbt-logs" / "dbt.log"
    # dbt says what it parsed at debug level; a build's log file is at info unless asked.
    env = {"DBT_TARGET_PATH": str(tmp_path / "dbt-target"),
           "DBT_LOG_PATH": str(dbt_log.parent), "DBT_LOG_LEVEL_FILE": "debug"}
    # The first daily run on an empty warehouse is a full build (and this lake's first parse).
    _daily(conf, env, "2024-07-02")
    before = dbt_log.stat().st_size
    log = _daily(conf, env, "2024-07-03")  # a new day

    with dbt_log.open(encoding="utf-8", errors="replace") as handle:
        handle.seek(before)
        this_run = handle.read()
    assert "2024-07-03" in log and "running dbt with arguments" in this_run
    parse = _parse_lines(this_run)
    assert parse, "dbt logged nothing about parsing"
    assert not [line for line in parse if "Unable to do partial parsing" in line], parse
    assert not [line for line in parse if "updated file" in line or "files changed" in line
                and "0 files changed" not in line], parse
    assert any("skipping parsing" in line or "Nothing changed" in line for line in parse), parse
