"""The order dbt's worker runs ready nodes in (``warehouse/dbt.py``, "the order the worker's
dbt runs ready nodes in"): a node is handed to dbt's thread pool only when a thread is free,
and the ready node with the longest path of recorded seconds still behind it goes first.

Real dbt in this process, on a small lake; the patch is installed for the test and dbt's own
classes are put back after it (``monkeypatch``), so no other test sees it.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import networkx as nx
import pytest

from retailops.warehouse import dbt
from retailops.warehouse.dbt_project import dbt_vars


def test_remaining_seconds_is_the_longest_path_to_the_end():
    graph = nx.DiGraph([("a", "b"), ("a", "c"), ("b", "d"), ("c", "d"), ("c", "e")])
    seconds = {"a": 1.0, "b": 5.0, "c": 2.0, "d": 0.5, "e": 4.0}
    # Worked by hand: d 0.5, e 4, b 5 + 0.5, c 2 + max(0.5, 4), a 1 + max(5.5, 6).
    assert dbt._remaining_seconds(graph, seconds) == {"d": 0.5, "e": 4.0, "b": 5.5,
                                                      "c": 6.0, "a": 7.0}
    assert dbt._remaining_seconds(graph, {})["a"] == 0.0  # nothing recorded: all equal


def test_node_seconds_are_kept_in_the_target_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("DBT_TARGET_PATH", str(tmp_path))
    monkeypatch.setattr(dbt, "_NODE_SECONDS", {"model.x.old": 3.0})
    summary = {"models": [{"unique_id": "model.x.a", "status": "success", "seconds": 1.5},
                          {"unique_id": "model.x.b", "status": "error", "seconds": 9.0}],
               "tests": [{"unique_id": "test.x.t", "status": "fail", "seconds": 0.25}]}
    dbt._keep_node_seconds(summary)
    dbt._NODE_SECONDS.clear()
    dbt._load_node_seconds()
    # What ran is recorded (a failing test ran whole; an errored model did not).
    assert dbt._NODE_SECONDS == {"model.x.old": 3.0, "model.x.a": 1.5, "test.x.t": 0.25}
    (tmp_path / dbt._kept_file("node_seconds", ".json").name).write_text("not json")
    dbt._load_node_seconds()
    assert dbt._NODE_SECONDS == {}


@pytest.fixture(scope="module")
def built_lake(tmp_path_factory):
    """A small lake, built whole once by dbt in this process (dbt's own order)."""
    from tests.dbt.dbt_harness import land_lake

    root = tmp_path_factory.mktemp("order")
    lake = land_lake(root / "lake", date(2024, 7, 3), scale=0.01)
    warehouse = root / "warehouse.duckdb"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DBT_TARGET_PATH", str(root / "target"))
        patch.setenv("DBT_LOG_PATH", str(root / "logs"))
        summary = dbt.build(str(lake), "duckdb", duckdb_path=str(warehouse), full_refresh=True,
                            calendar_years_ahead=1)
    assert summary["success"], summary
    return root, lake, warehouse


def _daily_build(root: Path, lake: Path, warehouse: Path, threads: int) -> list[str]:
    """The daily selector over the last day, ``threads`` threads; the nodes in the order
    their results came back."""
    result = dbt.invoke(["build", "--no-write-json", "--selector", "daily", "--threads",
                         str(threads), "--vars", json.dumps(dbt_vars(str(lake),
                                                                     calendar_years_ahead=1))],
                        "duckdb", env={"RETAILOPS_DUCKDB_PATH": str(warehouse),
                                       "RETAILOPS_RUN_DATE": "2024-07-03",
                                       "RETAILOPS_REBUILD_DAYS": "2024-07-03"})
    assert result.success, result.exception
    return [item.node.unique_id for item in result.result.results]


@pytest.fixture
def scheduled(built_lake, monkeypatch):
    """The worker's order installed in this process for one test, dbt's put back after."""
    from dbt.graph.queue import GraphQueue
    from dbt.task.runnable import GraphRunnableTask

    root, lake, warehouse = built_lake
    monkeypatch.setenv("DBT_TARGET_PATH", str(root / "target"))
    monkeypatch.setenv("DBT_LOG_PATH", str(root / "logs"))
    monkeypatch.setattr(GraphQueue, "_get_scores", GraphQueue._get_scores)
    monkeypatch.setattr(GraphRunnableTask, "run_queue", GraphRunnableTask.run_queue)
    monkeypatch.setattr(dbt, "_NODE_SECONDS", {})
    return root, lake, warehouse


def _position(order: list[str], name: str) -> int:
    return next(i for i, node in enumerate(order) if node.endswith(f".{name}"))


def test_the_longest_recorded_path_runs_first(scheduled):
    root, lake, warehouse = scheduled
    dbt._schedule_critical_path_first()
    bases = ("base_sales", "base_inventory", "base_shipments")
    for heavy in ("base_shipments", "base_inventory"):
        # One thread: the order the results come back in is the order dbt picked.
        dbt._NODE_SECONDS.clear()
        dbt._NODE_SECONDS.update({f"model.retailops.{heavy}": 100.0})
        order = _daily_build(root, lake, warehouse, threads=1)
        first = min(bases, key=lambda name: _position(order, name))
        assert first == heavy, order


def _outstanding_peak(monkeypatch) -> list[int]:
    """Track how many nodes are handed to dbt's pool and not finished, at most."""
    from dbt.graph.thread_pool import DbtThreadPool

    peak, now = [0], [0]
    submit = DbtThreadPool.apply_async

    def apply_async(self, func, args=(), kwds=None, callback=None, error_callback=None):
        now[0] += 1
        peak[0] = max(peak[0], now[0])

        def finished(result):
            now[0] -= 1
            if callback is not None:
                callback(result)

        return submit(self, func, args, kwds or {}, finished, error_callback)

    monkeypatch.setattr(DbtThreadPool, "apply_async", apply_async)
    return peak


def test_a_node_is_handed_over_only_when_a_thread_is_free(scheduled, monkeypatch):
    root, lake, warehouse = scheduled
    peak = _outstanding_peak(monkeypatch)
    _daily_build(root, lake, warehouse, threads=2)
    assert peak[0] > 2  # dbt's own way: every ready node goes to the pool at once
    peak[0] = 0
    dbt._schedule_critical_path_first()
    _daily_build(root, lake, warehouse, threads=2)
    assert peak[0] == 2
