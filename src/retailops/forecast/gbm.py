"""The global gradient-boosted model: one LightGBM over every store x product, direct multi-horizon.

Direct, not recursive: each training row is (series, origin, horizon 1..14) with features known
at the origin and about the target day, so one model predicts all 14 days in a single vectorized
call and an error on day 1 does not feed day 2's lags. Training rows: every (series, target day)
of the last ``window_days`` whose target is usable (not censored, not a closed day), each with
a random horizon; zero-sale targets are kept with probability ``zero_keep`` and weighted
1/``zero_keep`` (most rows are zeros at this grain and say little each), then at most
``max_rows`` rows are drawn uniformly. Poisson objective: the mean of a count.

A daily prediction is ~1M rows x 200 trees at scale 1: LightGBM's own predictor walks each row
through each tree (~15 CPU-s). ``LightGBMForecaster.use_compiled`` compiles the trees to machine
code once per stored model version (lleaves, on LLVM; ~14 CPU-s, cached in the lake beside the
model, one object per CPU type) and predicts with it (~5 CPU-s): the same numbers bit for bit
(the trees summed in LightGBM's order, in double; every prediction checks a sample of its rows
against LightGBM's predictor and falls back to it on any difference).
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd

from retailops.forecast import frames as F
from retailops.forecast.censoring import CensoringRule
from retailops.forecast.features import (CATEGORICAL, FEATURE_NAMES, LOOKBACK_DAYS, build_panel,
                                         discount_matrix, features, history_column_on,
                                         prediction_features)
from retailops.forecast.models import (count_interval, dispersion_for, fit_variance,
                                       forecast_frame)

log = logging.getLogger(__name__)

# The lowest starting level (units a day) of a series that sold nothing in its last 28 days.
LEVEL_FLOOR = 0.05

DEFAULT_PARAMS = {"objective": "poisson", "learning_rate": 0.1, "num_leaves": 63,
                  "min_data_in_leaf": 100, "feature_fraction": 0.9, "bagging_fraction": 0.8,
                  "bagging_freq": 1, "lambda_l2": 1.0, "verbose": -1}


def _plan_with_observed(plan: pd.DataFrame | None, history: pd.DataFrame) -> pd.DataFrame:
    """The plan, plus the discounts the sales show (for past days a plan may not cover)."""
    from retailops.forecast.data import observed_discounts

    frames = [p for p in (plan,) if p is not None and len(p)]
    if F.DISCOUNT in history:
        frames.append(observed_discounts(history))
    if not frames:
        return pd.DataFrame(columns=list(F.PLAN_COLUMNS))
    return pd.concat(frames, ignore_index=True)


def _level_offset(X: pd.DataFrame) -> np.ndarray:
    """Each row's starting log-mean: its series' mean of the last 28 days (floored).

    Boosting otherwise starts every row at the log of the overall mean. Among many slow series
    and a few selling hundreds a day, the first tree's Newton step for a leaf of fast sellers
    is ~y/p, tens in log space, so that leaf (and the slow rows in it) predicts thousands of
    times too much; and a Poisson tree moves an over-predicted row down by only about
    learning_rate/2 in log space, so 200 rounds do not undo it (a year at scale 1, 72k series:
    +1261% bias, issue 12). Started at their own level, the trees learn a correction factor.
    """
    if isinstance(X, pd.DataFrame):
        mean_28 = X["mean_28"].to_numpy(dtype=np.float64)
    else:  # a prediction_features matrix
        mean_28 = X[:, FEATURE_NAMES.index("mean_28")].astype(np.float64)
    return np.log(np.maximum(mean_28, LEVEL_FLOOR))


def _prediction_discounts(plan: pd.DataFrame | None, history: pd.DataFrame, panel,
                          context: F.ForecastContext, days: pd.DatetimeIndex) -> np.ndarray:
    """(products x 1 + len(days)) the discounts a prediction's features read: the origin's (the
    plan's, or the largest the sales show that day: ``_plan_with_observed`` on the origin
    alone) and the target days' (the plan's). The features read no other day's discount."""
    discounts = discount_matrix(plan, context, panel.days[-1:].append(days))
    if F.DISCOUNT in history:
        largest = context.sold_discounts.get(pd.Timestamp(panel.days[-1]))
        if largest is None:
            largest = largest_sold_discounts(history, panel.product_index, panel.days[-1],
                                             len(context.products))
        # observed_discounts' rounding, after the largest, in the column's own dtype
        observed = np.round(largest, 2).astype(np.float64)
        discounts[:, 0] = np.maximum(discounts[:, 0], observed)
    return discounts


def largest_sold_discounts(history: pd.DataFrame, product_index: np.ndarray, day: pd.Timestamp,
                           n_products: int) -> np.ndarray:
    """Per product (``product_index``: each series' position among the context's products),
    the largest discount any series of the history sold it at on ``day`` (0 without one), in
    the history's own dtype. A maximum: that of a chain is the largest of its blocks'."""
    sold = history_column_on(history, F.DISCOUNT, day)
    seen = (sold > 0) & (product_index >= 0)
    largest = np.zeros(n_products, dtype=sold.dtype)
    np.maximum.at(largest, product_index[seen], sold[seen])
    return largest


class CompiledCache(Protocol):
    """Where the compiled trees of one stored model version are kept (``run.train_or_load``
    gives the version's folder in the lake)."""

    def get(self, key: str) -> bytes | None: ...

    def put(self, key: str, data: bytes) -> None: ...


# Rows of every prediction also predicted by LightGBM's own predictor and compared bit for bit.
CHECKED_ROWS = 2000
# Rows the compiled trees predict per call.
COMPILED_CHUNK_ROWS = 262_144


def compiled_trees_key() -> str:
    """The name of a compiled object: the host's CPU, and a digest of its features and of the
    compiler's versions (an object compiled for one CPU may not run on another)."""
    from importlib.metadata import version

    import llvmlite.binding as llvm

    llvm.initialize()
    llvm.initialize_native_target()
    try:
        features = llvm.get_host_cpu_features().flatten()
    except RuntimeError:  # LLVM cannot tell on some hosts
        features = ""
    cpu = llvm.get_host_cpu_name()
    identity = f"{cpu}|{features}|lleaves {version('lleaves')}|llvmlite {version('llvmlite')}"
    return f"{cpu}-{hashlib.sha256(identity.encode()).hexdigest()[:16]}"


def compile_trees(booster, cached: bytes | None = None) -> tuple[object, bytes | None]:
    """The booster's trees compiled (raw scores), and the object newly compiled (None when
    ``cached`` was used). One block of every tree (``fblocksize``): each row sums the trees in
    LightGBM's order. Without inlining: 14 CPU-s to compile instead of ~140, for ~5 CPU-s
    instead of ~2 to predict a scale-1 day."""
    import lleaves

    with tempfile.TemporaryDirectory(prefix="retailops-trees-") as folder:
        model_file, objects = Path(folder) / "model.txt", Path(folder) / "trees.o"
        model_file.write_text(booster.model_to_string())
        if cached:
            objects.write_bytes(cached)
        model = lleaves.Model(model_file=str(model_file))
        model.compile(cache=str(objects), raw_score=True, fblocksize=model.num_trees(),
                      finline=False)
        compiled = None if cached else objects.read_bytes()
    return model, compiled


class LightGBMForecaster:
    name = "lightgbm"
    min_history_days = LOOKBACK_DAYS + 14
    lookback_days = LOOKBACK_DAYS + 1   # days up to the origin a prediction reads

    def __init__(self, window_days: int = 364, zero_keep: float = 0.3,
                 max_rows: int = 1_000_000, num_boost_round: int = 200, num_threads: int = 2,
                 seed: int = 7, params: dict | None = None, censoring: dict | None = None):
        self.window_days, self.zero_keep, self.max_rows = window_days, zero_keep, max_rows
        self.num_boost_round, self.num_threads, self.seed = num_boost_round, num_threads, seed
        self.params = {**DEFAULT_PARAMS, **(params or {})}
        self.rule = CensoringRule(**(censoring or {}))
        self.booster = None
        self.dispersion: dict[str, tuple[float, float]] = {}
        self.training: dict = {}

    # -- training ----------------------------------------------------------------------------
    def _training_rows(self, panel, rng) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        n_series, n_days = panel.units.shape
        first_target = max(LOOKBACK_DAYS + 1, n_days - self.window_days)
        cols = np.arange(first_target, n_days)
        usable = panel.usable[:, cols]
        rows, col = np.nonzero(usable)
        col = cols[col]
        target = panel.units[rows, col]
        keep = (target > 0) | (rng.random(len(rows)) < self.zero_keep)
        rows, col = rows[keep], col[keep]
        if len(rows) > self.max_rows:
            chosen = np.sort(rng.choice(len(rows), self.max_rows, replace=False))
            rows, col = rows[chosen], col[chosen]
        horizon = rng.integers(1, 15, size=len(rows))
        # An origin must leave LOOKBACK_DAYS of history before it.
        horizon = np.minimum(horizon, col - LOOKBACK_DAYS)
        return rows, col - horizon, horizon

    def fit(self, history, plan, context) -> "LightGBMForecaster":
        import lightgbm

        started = time.perf_counter()
        rng = np.random.default_rng(self.seed)
        panel = build_panel(history, context, self.rule)
        if len(panel.days) < self.min_history_days:
            raise ValueError(f"lightgbm needs {self.min_history_days} days of history, "
                             f"got {len(panel.days)}")
        full_plan = _plan_with_observed(plan, history)
        discounts = discount_matrix(full_plan, context, panel.days)
        rows, origin_col, horizon = self._training_rows(panel, rng)
        X = features(panel, context, rows, origin_col, horizon, discounts, panel.days)
        y = panel.units[rows, origin_col + horizon]
        features_seconds = time.perf_counter() - started
        weight = np.where(y > 0, 1.0, 1.0 / self.zero_keep)
        dataset = lightgbm.Dataset(X, label=y, weight=weight, init_score=_level_offset(X),
                                   categorical_feature=list(CATEGORICAL), free_raw_data=True)
        params = {**self.params, "num_threads": self.num_threads, "seed": self.seed}
        self.booster = lightgbm.train(params, dataset, num_boost_round=self.num_boost_round)
        self._compiled = None  # compiled from the previous booster, if any
        self.level_offset = True
        del dataset
        # Bottom-level dispersion from a sample of the training rows (in-sample, so slightly
        # narrow; the levels' own dispersions are calibrated out of sample in forecast.levels).
        sample = rng.choice(len(y), min(len(y), 200_000), replace=False)
        mean = self._mean(X.iloc[sample])
        self.dispersion["store_product"] = fit_variance(y[sample], mean, weight[sample])
        self.training = {"rows": int(len(y)), "features_seconds": round(features_seconds, 1), "zero_share_kept": float((y == 0).mean()),
                         "fit_seconds": round(time.perf_counter() - started, 1),
                         "first_day": str(panel.days[0].date()),
                         "last_day": str(panel.days[-1].date())}
        log.info("lightgbm trained on %d rows in %.1f s", len(y), time.perf_counter() - started)
        return self

    # -- prediction --------------------------------------------------------------------------
    def predict(self, history, origin, horizon, plan, context) -> pd.DataFrame:
        if self.booster is None:
            raise ValueError("lightgbm: predict before fit")
        # The features look back LOOKBACK_DAYS before the origin: only those days are read.
        panel = build_panel(history, context, self.rule, until=origin,
                            last_days=LOOKBACK_DAYS + 1)
        days = F.target_days(panel.days[-1].date(), horizon)
        X = prediction_features(panel, context, horizon,
                                _prediction_discounts(plan, history, panel, context, days))
        mean = self._mean(X).reshape(len(panel.series), horizon)
        closed = np.array([context.holiday(d.date())[1] == 0.0 for d in days], dtype=bool)
        mean[:, closed] = 0.0
        a, phi = self.dispersion.get("store_product", (1.0, 0.0))
        low, high = count_interval(mean, dispersion_for(mean, a, phi))
        return forecast_frame(panel.series, days, mean, low, high)

    # -- compiled trees ----------------------------------------------------------------------
    def use_compiled(self, cache: CompiledCache) -> bool:
        """Predict with the trees compiled to machine code from now on: the object kept in
        ``cache`` for this host, else compiled now and kept there. False (LightGBM's predictor
        stays) when lleaves is not installed or compiling fails: one warning line."""
        if self.booster is None:
            return False
        try:
            key = compiled_trees_key()
            cached = cache.get(key)
            started = time.perf_counter()
            self._compiled, compiled = compile_trees(self.booster, cached)
            if compiled is not None:
                cache.put(key, compiled)
                log.info("lightgbm: trees compiled in %.1f s (kept as %s)",
                         time.perf_counter() - started, key)
            return True
        except Exception as exc:  # noqa: BLE001 - LightGBM's predictor gives the same numbers
            log.warning("lightgbm: trees not compiled (%s: %s); LightGBM predicts",
                        type(exc).__name__, exc)
            self._compiled = None
            return False

    def __getstate__(self) -> dict:
        # Compiled code lives in this process only; the stored model is the booster.
        state = dict(self.__dict__)
        state.pop("_compiled", None)
        return state

    def _raw(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        """Raw scores: from the compiled trees when there are some (a float32 prediction
        matrix), checked on a sample of rows against LightGBM's predictor."""
        compiled = getattr(self, "_compiled", None)
        if compiled is None or not isinstance(X, np.ndarray) or not len(X):
            return self.booster.predict(X, raw_score=True, num_threads=self.num_threads)
        # A chunk at a time: the compiled code reads float64, a copy of each chunk (a scale-16
        # block is ~4M rows: 0.8 GB as one float64 copy).
        raw = np.concatenate([compiled.predict(X[begin:begin + COMPILED_CHUNK_ROWS],
                                               n_jobs=self.num_threads)
                              for begin in range(0, len(X), COMPILED_CHUNK_ROWS)])
        sample = np.unique(np.linspace(0, len(X) - 1, min(len(X), CHECKED_ROWS)).astype(int))
        expected = self.booster.predict(X[sample], raw_score=True, num_threads=1)
        if not np.array_equal(raw[sample], expected):
            log.warning("lightgbm: the compiled trees differ from LightGBM's predictor on %d "
                        "of %d rows checked; LightGBM predicts",
                        int((raw[sample] != expected).sum()), len(sample))
            self._compiled = None
            return self.booster.predict(X, raw_score=True, num_threads=self.num_threads)
        return raw

    def _mean(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        raw = self._raw(X)
        # Models pickled before the level offset was added were trained without it.
        if getattr(self, "level_offset", False):
            raw = raw + _level_offset(X)
        return np.exp(raw)

    def feature_importance(self) -> dict[str, float]:
        gains = self.booster.feature_importance("gain")
        return {n: float(g) for n, g in zip(FEATURE_NAMES, gains)}

