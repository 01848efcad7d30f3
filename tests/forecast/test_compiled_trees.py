"""LightGBM's daily prediction from its trees compiled to machine code (issue 12: the whole
forecast step <= 15 s): the same numbers as LightGBM's own predictor, bit for bit, compiled once
per stored model version and CPU type and kept beside the model in the lake.

The expected numbers come from ``lightgbm.Booster.predict``, never from the compiled path.
"""

from __future__ import annotations

import logging
import pickle
from datetime import date

import numpy as np
import pytest

from retailops.forecast import artifacts, gbm, run
from retailops.forecast.features import CATEGORICAL, FEATURE_NAMES, LOOKBACK_DAYS, build_panel
from retailops.forecast.features import prediction_features
from retailops.forecast.censoring import mark_censoring
from retailops.lake.storage import Lake

pytest.importorskip("lleaves")

from tests.forecast.test_predict_fast import HORIZON, ORIGIN, world  # noqa: E402


@pytest.fixture(scope="module")
def fitted():
    history, context, plan = world()
    marked = mark_censoring(history)
    model = gbm.LightGBMForecaster(num_boost_round=40, max_rows=20_000, num_threads=1)
    model.fit(marked[marked["date"] <= ORIGIN - np.timedelta64(14, "D")], plan, context)
    return model, marked, context, plan


def prediction_matrix(model, marked, context, plan) -> np.ndarray:
    panel = build_panel(marked, context, model.rule, until=ORIGIN.date(),
                        last_days=LOOKBACK_DAYS + 1)
    from retailops.forecast import frames as F

    days = F.target_days(panel.days[-1].date(), HORIZON)
    return prediction_features(panel, context, HORIZON,
                               gbm._prediction_discounts(plan, marked, panel, context, days))


class MemoryCache:
    def __init__(self) -> None:
        self.kept: dict[str, bytes] = {}
        self.puts = 0

    def get(self, key):
        return self.kept.get(key)

    def put(self, key, data):
        self.puts += 1
        self.kept[key] = data


def test_the_compiled_trees_predict_lightgbms_raw_scores_bit_for_bit(fitted):
    model, marked, context, plan = fitted
    X = prediction_matrix(model, marked, context, plan)
    # Beyond the day's rows: missing values, negative and unseen categories, extremes.
    rng = np.random.default_rng(3)
    odd = X[rng.integers(0, len(X), 400)].copy()
    odd[rng.random(odd.shape) < 0.2] = np.nan
    odd[::7, FEATURE_NAMES.index("store_code")] = -1
    odd[1::7, FEATURE_NAMES.index("category")] = 99
    odd[2::7, FEATURE_NAMES.index("mean_28")] = 1e30
    odd[3::7, FEATURE_NAMES.index("discount")] = 0.0
    rows = np.ascontiguousarray(np.concatenate([X, odd]), dtype=np.float32)
    compiled, _ = gbm.compile_trees(model.booster)
    expected = model.booster.predict(rows, raw_score=True)
    assert CATEGORICAL and np.array_equal(compiled.predict(rows, n_jobs=1), expected)
    assert np.array_equal(compiled.predict(rows, n_jobs=2), expected)


@pytest.mark.parametrize("chunk_rows", [gbm.COMPILED_CHUNK_ROWS, 97])
def test_the_daily_forecast_is_the_same_with_the_compiled_trees(fitted, monkeypatch, chunk_rows):
    model, marked, context, plan = fitted
    monkeypatch.setattr(gbm, "COMPILED_CHUNK_ROWS", chunk_rows)  # 97: many chunks, a ragged last
    plain = pickle.loads(pickle.dumps(model))
    assert getattr(plain, "_compiled", None) is None
    before = plain.predict(marked, ORIGIN.date(), HORIZON, plan, context)
    compiled = pickle.loads(pickle.dumps(model))
    assert compiled.use_compiled(MemoryCache())
    after = compiled.predict(marked, ORIGIN.date(), HORIZON, plan, context)
    assert after.drop(columns=["units", "units_p10", "units_p90"]).equals(
        before.drop(columns=["units", "units_p10", "units_p90"]))
    for column in ("units", "units_p10", "units_p90"):
        assert np.array_equal(after[column].to_numpy(), before[column].to_numpy())
    # The stored model is the booster: compiled code is never pickled.
    assert "_compiled" not in pickle.loads(pickle.dumps(compiled)).__dict__


def test_the_trees_are_compiled_once_per_version_and_kept_beside_it(fitted, tmp_path):
    model, *_ = fitted
    lake = Lake(str(tmp_path / "lake"))
    stored = artifacts.save(lake, "lightgbm", model, {"window": {"last_day": "2024-12-22"}})
    first = run.ModelRun("lightgbm", pickle.loads(pickle.dumps(model)), stored, True, "test")
    run._compile(first, lake, {})
    kept = lake.find(f"{artifacts.model_folder('lightgbm')}/{stored.version}/compiled")
    assert [k.rsplit("/", 1)[-1] for k in kept] == [gbm.compiled_trees_key()]
    # The next day loads the object instead of compiling (a compile would write it again).
    files = artifacts.VersionFiles(lake, stored, "compiled")
    again = pickle.loads(pickle.dumps(model))
    writes = []
    files.put = lambda key, data: writes.append(key)
    assert again.use_compiled(files) and writes == []
    assert again._compiled is not None
    # Off by parameter: LightGBM's own predictor.
    off = run.ModelRun("lightgbm", pickle.loads(pickle.dumps(model)), stored, False, "test")
    run._compile(off, lake, {"compiled_trees": False})
    assert getattr(off.forecaster, "_compiled", None) is None


def test_compiled_trees_that_differ_from_lightgbm_are_dropped_for_lightgbms_predictor(
        fitted, caplog):
    model, marked, context, plan = fitted
    expected = pickle.loads(pickle.dumps(model)).predict(marked, ORIGIN.date(), HORIZON, plan,
                                                         context)
    broken = pickle.loads(pickle.dumps(model))
    assert broken.use_compiled(MemoryCache())
    real = broken._compiled

    class OffByOneUlp:
        def predict(self, X, n_jobs=1):
            return np.nextafter(real.predict(X, n_jobs=n_jobs), np.inf)

    broken._compiled = OffByOneUlp()
    with caplog.at_level(logging.WARNING, logger="retailops.forecast.gbm"):
        got = broken.predict(marked, ORIGIN.date(), HORIZON, plan, context)
    assert "differ from LightGBM's predictor" in caplog.text
    assert broken._compiled is None
    assert np.array_equal(got["units"].to_numpy(), expected["units"].to_numpy())


def test_without_the_compiler_lightgbm_predicts(fitted, monkeypatch, caplog):
    model, marked, context, plan = fitted

    def missing(*args, **kwargs):
        raise ImportError("No module named 'lleaves'")

    monkeypatch.setattr(gbm, "compile_trees", missing)
    plain = pickle.loads(pickle.dumps(model))
    with caplog.at_level(logging.WARNING, logger="retailops.forecast.gbm"):
        assert not plain.use_compiled(MemoryCache())
    assert "trees not compiled (ImportError" in caplog.text
    got = plain.predict(marked, ORIGIN.date(), HORIZON, plan, context)
    assert len(got) and date.fromisoformat(str(got["target_date"].min().date())) > ORIGIN.date()
