"""dbt's worker parses the project while the run lands its day (``dbt.parse_ahead``), and the
run's build then runs on that parse instead of parsing again (``warehouse/dbt.py``, ``_serve``).

- The worker's loop, its connection replaced by a list of requests (no fork, dbt faked): which
  command gets the parse, and when there is none to give.
- The hook asks for the parse with what the ``dbt_build`` node will pass.
- Real dbt, in this process: the requests ``parse_ahead`` and ``build`` really send, served by
  the worker's loop, build a new day on the parse ahead (dbt's log shows the build did not
  parse) into the marts a clean full build of the same lake holds.
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path
from types import SimpleNamespace

import duckdb
import pytest

from retailops.warehouse import dbt

MARTS = ("marts.fct_daily_sales", "marts.fct_inventory_snapshots",
         "marts.mart_supplier_performance", "staging.base_sales")


class Pipe:
    """The worker's end of its pipe: the requests to serve, then the pipe closes."""

    def __init__(self, requests: list[tuple], waiting: bool = False) -> None:
        self.requests, self.answers, self.waiting = list(requests), [], waiting

    def recv(self) -> tuple:
        if not self.requests:
            raise EOFError
        return self.requests.pop(0)

    def poll(self, timeout: float = 0) -> bool:
        return self.waiting and bool(self.requests)

    def send(self, answer: tuple) -> None:
        self.answers.append(answer)


class Parent:
    """The parent's end: records what ``parse_ahead``/``build`` send, answers a summary."""

    def __init__(self) -> None:
        self.sent: list[tuple] = []

    def send(self, request: tuple) -> None:
        self.sent.append(request)

    def recv(self) -> tuple:
        return ("ok", {"models": [], "tests": [], "models_built": 0, "tests_passed": 0,
                       "failed_tests": [], "failed_models": [], "success": True})


def _requests(lake: str, duckdb_path: str, day: str, vars_lake: str | None = None,
              monkeypatch: pytest.MonkeyPatch | None = None) -> list[tuple]:
    """What the parent sends for a run: the parse ahead (hook), then the day's build."""
    parent = Parent()
    monkeypatch.setattr(dbt, "_WORKER", [SimpleNamespace(connection=parent, served=False)])
    assert dbt.parse_ahead(vars_lake or lake, "duckdb", duckdb_path=duckdb_path,
                           calendar_years_ahead=1)
    dbt.build(lake, "duckdb", run_date=day, duckdb_path=duckdb_path, rebuild_days=[day],
              selector="daily", calendar_years_ahead=1)
    monkeypatch.setattr(dbt, "_WORKER", [])
    return parent.sent


@pytest.fixture
def faked(monkeypatch):
    """dbt's import and invocation faked: each call recorded with the manifest it got (and a
    parse with the one it returned)."""
    from dbt.contracts.graph.manifest import Manifest

    class Calls(list):
        parse_fails = False

    calls = Calls()

    def fake_invoke(args, target, env=None, manifest=None):
        calls.append({"command": args[0], "manifest": manifest})
        if args[0] == "parse":
            parsed = None if calls.parse_fails else Manifest()
            calls[-1]["parsed"] = parsed
            return SimpleNamespace(success=parsed is not None, result=parsed, exception=None)
        return SimpleNamespace(result=SimpleNamespace(results=[]), success=True, exception=None)

    monkeypatch.setattr(dbt, "_import_dbt", lambda: None)
    monkeypatch.setattr(dbt, "_schedule_critical_path_first", lambda: None)
    monkeypatch.setattr(dbt, "invoke", fake_invoke)
    saved = dict(os.environ), os.getcwd()
    yield calls
    os.environ.clear()
    os.environ.update(saved[0])
    os.chdir(saved[1])


def test_the_build_runs_on_the_parse_made_ahead_for_it(faked, tmp_path, monkeypatch):
    sent = _requests(str(tmp_path / "lake"), str(tmp_path / "w.duckdb"), "2024-07-03",
                     monkeypatch=monkeypatch)
    pipe = Pipe(sent)
    dbt._serve(pipe)
    assert [c["command"] for c in faked] == ["parse", "build"]
    assert faked[1]["manifest"] is faked[0]["parsed"] is not None
    assert pipe.answers == [("ok", pipe.answers[0][1])] and pipe.answers[0][1]["success"]


def test_a_parse_for_other_inputs_is_not_used(faked, tmp_path, monkeypatch):
    # Another lake in --vars: the build must parse with its own.
    sent = _requests(str(tmp_path / "lake"), str(tmp_path / "w.duckdb"), "2024-07-03",
                     vars_lake=str(tmp_path / "other"), monkeypatch=monkeypatch)
    dbt._serve(Pipe(sent))
    assert faked[0]["parsed"] is not None
    assert [(c["command"], c["manifest"]) for c in faked] == [("parse", None), ("build", None)]
    # Another warehouse file (the profile's path): the same.
    faked.clear()
    sent = _requests(str(tmp_path / "lake"), str(tmp_path / "w.duckdb"), "2024-07-03",
                     monkeypatch=monkeypatch)
    command = list(sent[1])
    command[5] = {**command[5], "RETAILOPS_DUCKDB_PATH": str(tmp_path / "x.duckdb")}
    dbt._serve(Pipe([sent[0], tuple(command)]))
    assert faked[1] == {"command": "build", "manifest": None}


def test_the_day_alone_does_not_change_the_parse(faked, tmp_path, monkeypatch):
    # The run's day and rebuild days are read only while models run: the parse holds.
    sent = _requests(str(tmp_path / "lake"), str(tmp_path / "w.duckdb"), "2024-07-03",
                     monkeypatch=monkeypatch)
    command = list(sent[1])
    command[1] = {**command[1], "RETAILOPS_RUN_DATE": "2031-01-01",
                  "RETAILOPS_REBUILD_DAYS": "2031-01-01"}
    dbt._serve(Pipe([sent[0], tuple(command)]))
    assert faked[1]["manifest"] is faked[0]["parsed"] is not None


def test_no_parse_ahead_when_the_command_waits_or_the_parse_fails(faked, tmp_path,
                                                                   monkeypatch):
    sent = _requests(str(tmp_path / "lake"), str(tmp_path / "w.duckdb"), "2024-07-03",
                     monkeypatch=monkeypatch)
    # The build already waits when the worker reads the request (a small day): it parses.
    dbt._serve(Pipe(sent, waiting=True))
    assert faked == [{"command": "build", "manifest": None}]
    faked.clear()
    faked.parse_fails = True
    dbt._serve(Pipe(sent))
    assert [(c["command"], c["manifest"]) for c in faked] == [("parse", None), ("build", None)]


def test_a_parse_serves_one_command(faked, tmp_path, monkeypatch):
    sent = _requests(str(tmp_path / "lake"), str(tmp_path / "w.duckdb"), "2024-07-03",
                     monkeypatch=monkeypatch)
    dbt._serve(Pipe([*sent, sent[1]]))
    assert [c["command"] for c in faked] == ["parse", "build", "build"]
    assert [c["manifest"] is faked[0]["parsed"] for c in faked[1:]] == [True, False]


def test_without_a_worker_nothing_is_asked(monkeypatch, tmp_path):
    monkeypatch.setattr(dbt, "_WORKER", [])
    assert not dbt.parse_ahead(str(tmp_path), "duckdb")


def test_the_hook_asks_with_what_the_build_node_passes(monkeypatch, tmp_path):
    from retailops import hooks
    from retailops.lake.datasets import LakeDataset
    from retailops.warehouse.datasets import WarehouseDataset

    asked = []
    monkeypatch.setattr(dbt, "parse_ahead", lambda *a, **k: asked.append((a, k)))
    catalog = {"lake": LakeDataset(path=str(tmp_path / "lake")),
               "warehouse": WarehouseDataset(engine="duckdb", path=str(tmp_path / "w.duckdb"))}
    hooks._parse_ahead(catalog, {"dbt": {"target": "duckdb"}, "calendar_years_ahead": 2})
    assert asked == [((str(tmp_path / "lake"), "duckdb"),
                      {"duckdb_path": str((tmp_path / "w.duckdb").resolve()),
                       "calendar_years_ahead": 2})]
    asked.clear()
    hooks._parse_ahead(catalog, {"calendar_years_ahead": 2})  # no dbt target: no parse ahead
    assert asked == []


# --- real dbt --------------------------------------------------------------------------------

def _land(root: Path, last_day: date) -> Path:
    from tests.dbt.dbt_harness import land_lake

    return land_lake(root, last_day, scale=0.01)


def _rows(path: Path) -> dict[str, list[tuple]]:
    with duckdb.connect(str(path), read_only=True) as con:
        return {name: sorted(con.execute(f"select * from {name}").fetchall(), key=repr)
                for name in MARTS}


def test_a_real_daily_build_on_the_parse_ahead_matches_a_full_build(tmp_path, monkeypatch):
    # dbt imports itself when invoked; the worker's start-up caches and its order of ready
    # nodes (test_dbt_order.py) stay out of this process.
    monkeypatch.setattr(dbt, "_import_dbt", lambda: None)
    monkeypatch.setattr(dbt, "_schedule_critical_path_first", lambda: None)
    monkeypatch.setenv("DBT_TARGET_PATH", str(tmp_path / "target"))
    monkeypatch.setenv("DBT_LOG_PATH", str(tmp_path / "logs"))
    monkeypatch.setenv("DBT_LOG_LEVEL_FILE", "debug")
    lake = tmp_path / "lake"
    _land(lake, date(2024, 7, 3))
    daily_db, full_db = tmp_path / "daily.duckdb", tmp_path / "full.duckdb"
    # Days 1-2 built first (day 3 not landed yet: its manifests moved aside), then the day.
    from tests.dbt.dbt_harness import hide_manifests, restore_manifests

    stash = tmp_path / "stash"
    stash.mkdir()
    hide_manifests(lake, "2024-07-03", stash)
    first = dbt.build(str(lake), "duckdb", duckdb_path=str(daily_db), full_refresh=True,
                      calendar_years_ahead=1)
    assert first["success"], first
    restore_manifests(lake, "2024-07-03", stash)

    log = tmp_path / "logs" / "dbt.log"
    before = log.stat().st_size
    pipe = Pipe(_requests(str(lake), str(daily_db), "2024-07-03", monkeypatch=monkeypatch))
    dbt._serve(pipe)
    status, summary = pipe.answers[0]
    assert status == "ok" and summary["success"], summary
    assert summary["models_built"] > 0 and not summary["failed_tests"]
    with log.open(encoding="utf-8", errors="replace") as handle:
        handle.seek(before)
        runs = handle.read().split("running dbt with arguments")
    # Two invocations: the parse ahead parsed; the build ran on it (dbt logs no parse).
    assert len(runs) == 3, len(runs)
    assert "Command `cli parse` succeeded" in runs[1] and "Command `cli build`" in runs[2]
    assert "skipping parsing" in runs[1]
    assert "artial pars" not in runs[2] and "full parse" not in runs[2], runs[2][:3000]

    full = dbt.build(str(lake), "duckdb", duckdb_path=str(full_db), full_refresh=True,
                     calendar_years_ahead=1)
    assert full["success"], full
    daily_rows, full_rows = _rows(daily_db), _rows(full_db)
    assert daily_rows["marts.fct_daily_sales"]
    assert {r[-1] for r in daily_rows["marts.fct_daily_sales"]} >= {date(2024, 7, 3)}
    assert daily_rows == full_rows
