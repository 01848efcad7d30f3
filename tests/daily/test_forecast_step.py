"""The forecast step of the daily run, as an operator runs it (``kedro run`` in a separate
process): it comes after validate and before publish, and on a young lake with too little
history it says so in one line and the day still succeeds and is published. The same stage run
alone keeps failing in one line (the daily run is what makes it skip)."""

from __future__ import annotations

import duckdb

from tests.conftest import run_kedro
from tests.platform_fixture import make_project


def _order(log: str, *nodes: str) -> list[int]:
    return [log.find(f"Running node: {name}") for name in nodes]


def test_a_young_lakes_daily_run_skips_the_forecast_and_still_publishes(tmp_path):
    project = tmp_path / "project"
    conf, lake = make_project(project)
    run = run_kedro("run", "--conf-source", str(conf), "--pipelines", "daily", "--params",
                    "start_date=2024-07-01,end_date=2024-07-01,scale=0.01", timeout=600)
    log = run.stderr + run.stdout
    assert run.returncode == 0, log[-4000:]
    order = _order(log, "reconcile_run", "require_validated_marts", "forecast_demand",
                   "check_forecast_marts", "publish_marts")
    assert all(i >= 0 for i in order) and order == sorted(order), order
    skipped = [line for line in log.splitlines() if "forecast skipped:" in line]
    assert len(skipped) == 1 and "forecast needs at least" in skipped[0], skipped
    assert not (lake / "curated" / "fct_demand_forecast").exists()
    # Published all the same, the forecast marts as empty views with their columns.
    with duckdb.connect(str(project / "warehouse" / "serving.duckdb"), read_only=True) as con:
        assert con.execute("select count(*) from marts.fct_daily_sales").fetchall()[0][0] > 0
        assert con.execute("select count(*), count(units_p90) from "
                           "marts.fct_demand_forecast_levels").fetchall() == [(0, 0)]

    alone = run_kedro("run", "--conf-source", str(conf), "--pipelines", "forecast", timeout=300)
    errors = [line for line in alone.stderr.splitlines() if line.startswith("retailops: error:")]
    assert alone.returncode == 2, alone.stderr[-3000:]
    assert len(errors) == 1 and "forecast needs at least" in errors[0], errors
