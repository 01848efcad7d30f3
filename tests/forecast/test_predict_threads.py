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
