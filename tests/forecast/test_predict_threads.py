"""The forecast stage's models predict at the same time on two threads (``run.predict_models``,
``forecast.model_threads``): each model's forecast is the one it makes alone, one model after
the other in this process (the expected frames), and the two marts' rows are equal whatever the
thread count."""

from __future__ import annotations

import threading
from datetime import date

import numpy as np
import pandas as pd
import pytest

from retailops.forecast import artifacts, run
from retailops.forecast.censoring import mark_censoring
from retailops.forecast.gbm import LightGBMForecaster
from retailops.forecast.intermittent import IntermittentForecaster
from retailops.forecast.models import SeasonalNaive
from tests.forecast.test_compiled_trees import MemoryCache
from tests.forecast.test_predict_fast import HORIZON, ORIGIN, world


@pytest.fixture(scope="module")
def stage():
    history, context, plan = world()
    marked = mark_censoring(history)
    known = marked[marked["date"] <= ORIGIN]
    before = known[known["date"] <= ORIGIN - np.timedelta64(14, "D")]
    models = {"seasonal_naive": SeasonalNaive(),
              "intermittent": IntermittentForecaster(model="TSB"),
              "lightgbm": LightGBMForecaster(num_boost_round=30, max_rows=20_000,
                                             num_threads=2)}
    runs = {}
    for name, model in models.items():
        model.fit(before, plan, context)
    # As in the stage: LightGBM predicts from its compiled trees (on threads outside the GIL).
    assert models["lightgbm"].use_compiled(MemoryCache())
    for name, model in models.items():
        stored = artifacts.StoredModel(name, "v1", {"window": {"last_day": str(ORIGIN.date())}})
        runs[name] = run.ModelRun(name, model, stored, False, "test")
    inputs = run.ForecastInputs(known.reset_index(drop=True), context, plan,
                                date(2024, 9, 2), ORIGIN.date())
    # The expected forecasts: each model alone, in turn, on this thread.
    alone = {name: r.forecaster.predict(inputs.history, inputs.last, HORIZON, plan, context)
             for name, r in runs.items()}
    return inputs, runs, alone


@pytest.mark.parametrize("threads", [2, 3])
def test_each_model_forecasts_what_it_forecasts_alone(stage, threads, monkeypatch):
    inputs, runs, alone = stage
    seen = {}
    for name, model_run in runs.items():
        original = model_run.forecaster.predict

        def spy(*args, _original=original, _name=name):
            seen[_name] = threading.current_thread().name
            return _original(*args)

        monkeypatch.setattr(model_run.forecaster, "predict", spy)
    got = run.predict_models(inputs, runs, HORIZON, threads=threads)
    assert list(got) == list(runs)                      # the mart's model order
    for name in runs:
        pd.testing.assert_frame_equal(got[name], alone[name], check_exact=True)
        assert runs[name].metrics["predict_seconds"] >= 0
    assert all(t.startswith("forecast-model") for t in seen.values())
    assert len(set(seen.values())) >= 2                 # not all on one thread
    assert runs["lightgbm"].forecaster._compiled is not None


def test_the_marts_rows_do_not_depend_on_the_thread_count(stage):
    inputs, runs, _ = stage
    params = {"production_model": "lightgbm", "horizon_days": HORIZON}
    one_bottom, one_levels = run.predict(inputs, runs, {**params, "model_threads": 1})
    two_bottom, two_levels = run.predict(inputs, runs, {**params, "model_threads": 2})
    pd.testing.assert_frame_equal(two_bottom, one_bottom, check_exact=True)
    pd.testing.assert_frame_equal(two_levels, one_levels, check_exact=True)
    assert len(one_bottom) == 3 * 60 * HORIZON            # 3 models x 3 stores x 20 products


def test_the_bottom_rows_are_handed_over_before_the_levels(stage, monkeypatch):
    from retailops.forecast import levels

    inputs, runs, _ = stage
    order = []
    original = levels.level_forecast
    monkeypatch.setattr(levels, "level_forecast",
                        lambda *a, **k: order.append("levels") or original(*a, **k))
    handed = []
    bottom, _ = run.predict(inputs, runs, {"production_model": "lightgbm"},
                            on_bottom=lambda rows: order.append("bottom") or handed.append(rows))
    assert order == ["bottom", "levels"]
    assert handed[0] is bottom


def node_on(stage, monkeypatch, tmp_path):
    """The stage's node over this module's models and history (its reads stubbed)."""
    from retailops.lake.storage import Lake
    from retailops.pipelines.forecast import nodes

    inputs, runs, _ = stage
    monkeypatch.setattr(run, "days_to_load", lambda *a, **k: (112, "test"))
    monkeypatch.setattr(run, "gather_inputs", lambda *a, **k: inputs)
    monkeypatch.setattr(run, "train_or_load", lambda *a, **k: runs)
    monkeypatch.setattr(nodes, "_reader", lambda *a, **k: None)
    lake = Lake(str(tmp_path / "lake"))
    return lake, lambda: nodes.forecast_demand(None, lake, {"production_model": "lightgbm",
                                                             "models": list(runs)})


def test_the_node_writes_the_marts_parquet_of_the_rows(stage, monkeypatch, tmp_path):
    """The bottom mart encoded on a thread beside the levels: the files are write_mart's."""
    inputs, runs, _ = stage
    lake, node = node_on(stage, monkeypatch, tmp_path)
    summary = node()
    bottom, level_rows = run.predict(inputs, runs, {"production_model": "lightgbm"})
    assert sorted(summary["files"]) == sorted(
        [p for p, _ in run.encode_mart("fct_demand_forecast", bottom)]
        + [p for p, _ in run.encode_mart("fct_demand_forecast_levels", level_rows)])
    for name, rows in (("fct_demand_forecast", bottom),
                       ("fct_demand_forecast_levels", level_rows)):
        ((path, data),) = run.encode_mart(name, rows)
        assert lake.read_bytes(path) == data
    # The same bytes as a plain write_mart (one pass, no thread).
    other = type(lake)(str(tmp_path / "other"))
    (path,) = run.write_mart(other, "fct_demand_forecast", bottom)
    assert other.read_bytes(path) == lake.read_bytes(path)


def test_a_failed_prediction_writes_nothing(stage, monkeypatch, tmp_path):
    """The bottom mart is encoded early, but written only once the levels are done: a run that
    fails after handing the rows over leaves the lake as it was."""
    from retailops.forecast import levels

    lake, node = node_on(stage, monkeypatch, tmp_path)

    def broken(*args, **kwargs):
        raise RuntimeError("levels broke")

    monkeypatch.setattr(levels, "level_forecast", broken)
    with pytest.raises(RuntimeError, match="levels broke"):
        node()
    assert not lake.find("curated")


@pytest.mark.parametrize("value", [0, -1, "two", 1.5, True, None])
def test_a_bad_thread_count_is_refused_in_one_line(value):
    from retailops.errors import InvalidParameterError

    with pytest.raises(InvalidParameterError, match=r"^forecast\.model_threads=.* must be a "
                                                    r"positive integer"):
        run.model_threads({"model_threads": value})
    assert run.model_threads({}) == 2 and run.model_threads({"model_threads": 1}) == 1
