"""``kedro run --pipelines replenishment_study`` as a user runs it: the dataset holds both
policies and the service-level curve, its figures match an independent count, and the lake is
never touched (the study is a what-if)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.compute as pc
import pytest

from retailops.simulation import (
    FIRST_DAY,
    SimulationConfig,
    build_world,
    initial_state,
    run_days,
)
from tests.conftest import conf_with_lake, run_kedro
from tests.replenishment.conftest import TINY

PARAMS = (f"scale={TINY.scale},seed={TINY.seed},"
          f"replenishment_study.warmup_weeks={TINY.warmup_weeks},"
          f"replenishment_study.study_weeks={TINY.study_weeks},"
          f"replenishment_study.forecaster={TINY.forecaster}")


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("study")
    lake = tmp / "lake"
    lake.mkdir()
    (lake / "keep.txt").write_text("the lake before the study\n")
    conf = conf_with_lake(tmp, str(lake))
    result = run_kedro("run", "--pipelines", "replenishment_study", "--conf-source", str(conf),
                       "--params", PARAMS)
    assert result.returncode == 0, result.stderr[-3000:]
    return tmp, lake, result


def test_the_study_writes_both_policies_and_the_curve(study):
    tmp, _, result = study
    frame = pd.read_parquet(tmp / "reports" / "replenishment_study.parquet")
    # The chain's own rule first, then the rule before issue 15 and the rule from observed
    # sales (all three without a service level).
    assert frame["policy"].tolist() == (["periodic_review", "periodic_review_before_issue_15",
                                         "periodic_review_from_sales"]
                                        + ["forecast_order_up_to"] * 5)
    assert frame["service_level"].iloc[:3].isna().all()
    assert frame["service_level"].iloc[3:].tolist() == [0.85, 0.90, 0.95, 0.97, 0.98]
    # Six weeks of history hold no calibration cover (the longest is ~5 weeks plus the
    # model's 4): the safety stock falls back to the intervals, and the dataset says so.
    assert set(frame["safety_stock"].iloc[3:]) == {"forecast intervals"}
    # The cost allocation needs the empirical errors: without them every cell is at the level.
    assert set(frame["allocation"].iloc[3:]) == {"uniform"}
    assert not frame["supply_risk"].iloc[3:].any() and not frame["comparison"].iloc[3:].any()
    assert frame["plan_lift"].iloc[3:].all()   # seasonal naive does not read the plan
    assert frame["headline"].sum() == 1
    for column in ("lost_units", "fill_rate", "avg_inventory_value", "days_of_cover", "orders",
                   "order_lines", "delivery_lines"):
        assert frame[column].notna().all() and (frame[column] > 0).all(), column
    # Every run faced the same demand.
    assert frame["demanded_units"].nunique() == 1
    assert (frame["days_beyond_plan"].iloc[3:] > 0).all()
    sales_rule = frame[frame["policy"] == "periodic_review_from_sales"].iloc[0]
    assert (frame["lost_units_vs_sales_rule"] == frame["lost_units"]
            / sales_rule["lost_units"]).all()
    page = (tmp / "reports" / "replenishment.html").read_text()
    assert "Closed-loop replenishment study" in page and "chart-replenishment" in page
    log = result.stdout + result.stderr
    assert "does not meet the target" in log or "meets the target" in log


def test_the_builtin_figures_equal_an_independent_count(study):
    tmp, *_ = study
    frame = pd.read_parquet(tmp / "reports" / "replenishment_study.parquet")
    builtin = frame[frame["policy"] == "periodic_review"].iloc[0]
    # The built-in run is the chain the ingest lands: count lost units and inventory from the
    # day batches' truth and end-of-day state, as the lake would record them.
    world = build_world(SimulationConfig(seed=TINY.seed, scale=TINY.scale))
    cost = np.tile(world.product_unit_cost, world.n_stores)
    demanded = sold = orders = order_lines = 0
    values = []
    for batch in run_days(world, initial_state(world), TINY.end):
        if batch.day < TINY.start:
            continue
        demanded += int(pc.sum(batch.truth["demanded_units"]).as_py())
        sold += int(pc.sum(batch.truth["sold_units"]).as_py())
        values.append(float((batch.state.on_hand * cost).sum()))
        orders += batch.orders_placed
        # Lines ordered today are all still pending tonight (no lead time is under a day).
        order_lines += int((batch.state.pending["order_day"]
                            == (batch.day - FIRST_DAY).days).sum())
    assert builtin["lost_units"] == demanded - sold
    assert (builtin["orders"], builtin["order_lines"]) == (orders, order_lines)
    assert builtin["fill_rate"] == pytest.approx(sold / demanded)
    assert builtin["avg_inventory_value"] == pytest.approx(np.mean(values))
    assert builtin["days"] == len(values) == TINY.study_weeks * 7


def test_the_study_leaves_the_lake_alone(study):
    _, lake, _ = study
    assert sorted(p.name for p in lake.rglob("*")) == ["keep.txt"]


def test_an_unknown_forecaster_is_one_clear_line(tmp_path):
    conf = conf_with_lake(tmp_path, str(tmp_path / "lake"))
    result = run_kedro("run", "--pipelines", "replenishment_study", "--conf-source", str(conf),
                       "--params", PARAMS.replace(TINY.forecaster, "crystal_ball"))
    assert result.returncode != 0
    assert ("retailops: error: replenishment_study.forecaster='crystal_ball' is not a "
            "forecaster" in result.stdout + result.stderr)
