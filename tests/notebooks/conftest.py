"""The notebooks' platform: a project folder with the repository's OWN conf, relative paths
untouched (``lake_root: data/lake``), built by the default ``kedro run`` started at its root.

Notebooks are then executed from ``<project>/notebooks``, as Jupyter runs them, so a location
resolved against the working directory instead of the project root fails the test (the shared
platform of tests/platform_fixture.py writes absolute paths into globals.yml and would hide it).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.catalog.project import relative_project
from tests.conftest import run_kedro

FIRST_DAY, LAST_DAY = "2024-07-01", "2024-07-07"
SCALE = "0.05"


@dataclass(frozen=True)
class NotebookPlatform:
    project: Path     # pyproject.toml, conf/ (the repository's), notebooks/, data/
    lake: Path        # where the repository's conf puts it: <project>/data/lake


@pytest.fixture(scope="session")
def platform(tmp_path_factory: pytest.TempPathFactory) -> NotebookPlatform:
    project = relative_project(tmp_path_factory.mktemp("notebooks") / "project")
    run = run_kedro("run", "--params", f"start_date={FIRST_DAY},end_date={LAST_DAY},scale={SCALE}",
                    cwd=project, timeout=900)
    if run.returncode != 0:
        raise AssertionError(f"kedro run failed ({run.returncode}):\n{run.stderr[-4000:]}")
    lake = project / "data" / "lake"
    assert (lake / "metadata/runs/validation/latest.json").is_file()
    _publish_a_forecast(project, lake)
    return NotebookPlatform(project=project, lake=lake)


def _publish_a_forecast(project: Path, lake: Path) -> None:
    """Forecasts made on 07-03..07-06 (fixture values in the forecast marts' layout: a week is
    far too little history for the forecast stage) and a backtest, then published, for the
    demand_forecasts notebook."""
    from datetime import date, timedelta

    import duckdb

    from tests.forecast_fixture import write_accuracy, write_forecast

    with duckdb.connect(str(project / "data" / "warehouse" / "retailops.duckdb"),
                        read_only=True) as con:
        category = dict(con.execute("select product_id, category from marts.dim_products")
                        .fetchall())
        cells = con.execute("select store_id, product_id from marts.fct_daily_sales "
                            "group by 1, 2 order by 1, 2 limit 40").fetchall()
    for n in range(4):
        write_forecast(lake, date(2024, 7, 3) + timedelta(days=n), cells, category,
                       level_models=["lightgbm"])
    write_accuracy(lake, date(2024, 7, 6))
    run = run_kedro("run", "--pipelines", "publish", cwd=project, timeout=300)
    if run.returncode != 0:
        raise AssertionError(f"publish failed ({run.returncode}):\n{run.stderr[-4000:]}")
