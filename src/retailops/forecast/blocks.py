"""Prediction a block of stores at a time, so that memory is bounded whatever the chain's size.

A predict-only day holds the dense history of its lookback (175 days) for every store x product
plus the stock-out marks' matrices: ~1 GB per 12.6M cells, about 15.6 GB at scale 16 (240 stores
x 4,800 products). Every model is per series, so the stores can be read and predicted a block at
a time (``forecast.block_series``: the most series a block holds). Three things join the series
of the chain, and each is gathered over the blocks first or summed after, so the forecasts are
those of the whole chain bit for bit (``tests/forecast/test_blocks.py``):

1. the imputation's weekday profile (``censoring.impute_matrix``): the chain's totals of usable
   units and of usable cells per weekday over the last 8 weeks. Unit counts are whole numbers,
   summed in float64: exact, so the blocks' totals add up to the chain's
   (``censoring.weekday_totals``). A first pass over the blocks reads each block, marks its
   stock-outs (local to each series) and adds its totals;
2. the largest discount each product sold at on the origin day (LightGBM's ``discount_before``
   of a day without a plan): a maximum, taken over the blocks in the same pass
   (``ForecastContext.sold_discounts``);
3. the aggregate levels (category, chain) of the production model: computed once on the
   production model's bottom forecast of every block, in the whole chain's row order.

The second pass reads each block again, marks it with the chain's profile, predicts every model
and copies the rows into the bottom mart's preallocated columns (the mart's row order: model by
model, then store, product, target day), so only one block's history is in memory at a time.
The read is paid twice (the first pass keeps nothing but 7 totals and a discount per product).

Training at a large scale reads a sample of the stores (``training_stores``): every k-th store
of the sorted ids, so that at most ``forecast.training_series`` series are loaded (a year of
them is what a year at scale 1 holds); the global LightGBM learns across stores from their
attributes and levels, TSB has nothing to learn per series, and the intervals are calibrated on
the sample.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from retailops.forecast import frames as F
from retailops.forecast.censoring import (CensoringRule, censored_matrix, dense_matrices,
                                          mark_censoring, profile_from_totals, recent_totals)
from retailops.forecast.data import load_history
from retailops.forecast.features import history_days

log = logging.getLogger(__name__)


def series_count(context: F.ForecastContext) -> int:
    return len(context.stores) * len(context.products)


def store_blocks(context: F.ForecastContext, block_series: int | None) -> list[list[str]]:
    """The chain's stores (sorted ids, the history's order) in consecutive blocks of at most
    ``block_series`` series (at least one store a block); one block of every store when
    ``block_series`` is None or not exceeded."""
    stores = context.stores["store_id"].astype(str).tolist()
    n_products = max(len(context.products), 1)
    if block_series is None or len(stores) * n_products <= int(block_series):
        return [stores]
    per = max(1, int(block_series) // n_products)
    return [stores[i:i + per] for i in range(0, len(stores), per)]


def blocked(context: F.ForecastContext, params: Mapping[str, Any]) -> bool:
    """Whether the chain is predicted in blocks (more series than ``forecast.block_series``)."""
    return len(store_blocks(context, params.get("block_series"))) > 1


def training_stores(context: F.ForecastContext, params: Mapping[str, Any]) -> list[str] | None:
    """The stores a training run loads: every k-th store of the sorted ids so that at most
    ``forecast.training_series`` series are read (None: every store, when the chain has no
    more, or no bound is set)."""
    bound = params.get("training_series")
    stores = context.stores["store_id"].astype(str).tolist()
    if bound is None or series_count(context) <= int(bound):
        return None
    keep = max(1, int(bound) // max(len(context.products), 1))
    step = math.ceil(len(stores) / keep)
    return stores[::step]


@dataclasses.dataclass
class ChainShared:
    """What the blocks' predictions share: the chain's imputation profile and, per origin day,
    the largest discount each product sold at."""

    profile: np.ndarray
    sold_discounts: dict


def block_shares(history: pd.DataFrame, context: F.ForecastContext, rule: CensoringRule
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """One block's part of ``ChainShared``: its weekday totals (sums, counts) and the largest
    discount each product sold at on its last day (None without a discount column)."""
    from retailops.forecast.gbm import largest_sold_discounts

    days, units, on_hand, closed = dense_matrices(history)
    censored = censored_matrix(units, on_hand, closed, rule)
    sums, counts = recent_totals(units, censored, closed, days)
    largest = None
    if F.DISCOUNT in history:
        n_days = len(history_days(history))
        products = history[F.PRODUCT].iloc[::n_days].astype(str).to_numpy()
        product_index = pd.Index(context.products["product_id"].astype(str)).get_indexer(products)
        largest = largest_sold_discounts(history, product_index, days[-1], len(context.products))
    return sums, counts, largest


def chain_shared(reader, first, last, context: F.ForecastContext, rule: CensoringRule,
                 blocks: Sequence[Sequence[str]]) -> ChainShared:
    """The first pass: each block read and marked, its totals and discounts gathered."""
    sums, counts, largest = np.zeros(7), np.zeros(7, dtype=np.int64), None
    for stores in blocks:
        history = load_history(reader, first, last, context, stores=stores)
        block_sums, block_counts, block_largest = block_shares(history, context, rule)
        del history
        sums += block_sums
        counts += block_counts
        if block_largest is not None:
            largest = block_largest if largest is None else np.maximum(largest, block_largest)
    sold = {} if largest is None else {pd.Timestamp(last): largest}
    return ChainShared(profile_from_totals(sums, counts), sold)


def _codes(values: pd.Series, categories: pd.Index) -> np.ndarray:
    """Each row's position among ``categories`` by its text (one hash of the distinct values)."""
    codes, distinct = pd.factorize(values)
    return categories.get_indexer(pd.Index(distinct).astype(str))[codes]


def predict_blocked(reader, first, last, context: F.ForecastContext, plan: pd.DataFrame | None,
                    runs: Mapping[str, Any], params: Mapping[str, Any]
                    ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``run.predict``'s two frames (the bottom mart's rows, the production model's levels),
    the chain read and predicted ``forecast.block_series`` at a time (see the module's text)."""
    from retailops.forecast import levels
    from retailops.forecast.run import combine

    horizon = int(params.get("horizon_days", 14))
    production = params.get("production_model", "lightgbm")
    combinations = {name: list(members)
                    for name, members in dict(params.get("combinations") or {}).items()}
    rule = CensoringRule(**dict(params.get("censoring") or {}))
    blocks = store_blocks(context, params.get("block_series"))
    started = time.perf_counter()
    shared = chain_shared(reader, first, last, context, rule, blocks)
    log.info("forecast: %d blocks of stores, chain profile and discounts gathered in %.1f s",
             len(blocks), time.perf_counter() - started)
    block_context = dataclasses.replace(
        context, sold_discounts={**context.sold_discounts, **shared.sold_discounts})

    names = [*runs, *combinations]
    for name, members in combinations.items():
        missing = [m for m in members if m not in runs]
        if len(members) < 2 or missing:
            raise ValueError(f"forecast.combinations.{name}: needs two or more of the "
                             f"forecast.models ({', '.join(runs)}); not there: {missing}")
    if production not in names:
        raise ValueError(f"forecast.production_model {production!r} is not one of the "
                         f"forecast.models or forecast.combinations ({', '.join(names)})")
    store_ids = pd.Index(sorted(context.stores["store_id"].astype(str)))
    product_ids = pd.Index(sorted(context.products["product_id"].astype(str)))
    cells = series_count(context) * horizon
    total = cells * len(names)
    target = np.empty(total, dtype="datetime64[ns]")
    store_code = np.empty(total, dtype=np.int32)
    product_code = np.empty(total, dtype=np.int32)
    values = {c: np.empty(total, dtype=np.float64) for c in (F.UNITS, F.P10, F.P90)}
    dispersions = {name: getattr(r.forecaster, "dispersion", {}) for name, r in runs.items()}
    versions = {name: r.stored.version for name, r in runs.items()}
    for name, members in combinations.items():
        versions[name] = "+".join(versions[m] for m in members)
    seconds = {name: 0.0 for name in runs}
    offset = 0
    for stores in blocks:
        history = load_history(reader, first, last, context, stores=stores)
        history = mark_censoring(history, rule, copy=False, profile=shared.profile)
        bottoms = {}
        for name, model_run in runs.items():
            begun = time.perf_counter()
            bottoms[name] = model_run.forecaster.predict(history, last, horizon, plan,
                                                         block_context)
            seconds[name] += time.perf_counter() - begun
        del history
        for name, members in combinations.items():
            bottoms[name], dispersions[name] = combine(bottoms, dispersions, members)
        n = len(bottoms[names[0]])
        if offset + n > cells or any(len(b) != n for b in bottoms.values()):
            raise ValueError("forecast blocks: the models forecast other cells than the "
                             "chain's series x horizon")
        for m, name in enumerate(names):
            at = slice(m * cells + offset, m * cells + offset + n)
            bottom = bottoms[name]
            target[at] = bottom[F.TARGET_DATE].to_numpy(dtype="datetime64[ns]")
            store_code[at] = _codes(bottom[F.STORE], store_ids)
            product_code[at] = _codes(bottom[F.PRODUCT], product_ids)
            for column, array in values.items():
                array[at] = bottom[column].to_numpy(dtype=np.float64)
        offset += n
        del bottoms
    if offset != cells:
        raise ValueError(f"forecast blocks: {offset} forecast cells, the chain has {cells}")
    for name, model_run in runs.items():
        model_run.metrics["predict_seconds"] = round(seconds[name], 2)

    # The production model's levels, from its rows of every block in the chain's order.
    p = names.index(production)
    at = slice(p * cells, (p + 1) * cells)
    production_rows = pd.DataFrame({
        F.STORE: pd.Categorical.from_codes(store_code[at], store_ids),
        F.PRODUCT: pd.Categorical.from_codes(product_code[at], product_ids),
        F.TARGET_DATE: target[at], F.UNITS: values[F.UNITS][at]}, copy=False)
    level_rows = levels.level_forecast(production_rows, context, production,
                                       dispersions[production])
    del production_rows
    forecast_date = pd.Timestamp(last)
    level_rows = level_rows.assign(forecast_date=forecast_date)
    for column in (F.UNITS, F.P10, F.P90):
        level_rows[column] = level_rows[column].astype(np.float64)

    def constant(texts: list[str]) -> pd.Categorical:
        distinct = sorted(set(texts))
        codes = np.repeat([distinct.index(t) for t in texts], cells).astype(np.int32)
        return pd.Categorical.from_codes(codes, categories=distinct)

    bottom = pd.DataFrame({
        "target_date": target,
        F.STORE: pd.Categorical.from_codes(store_code, store_ids),
        F.PRODUCT: pd.Categorical.from_codes(product_code, product_ids),
        "model": constant(names),
        "model_version": constant([versions[n] for n in names]),
        F.UNITS: values[F.UNITS], F.P10: values[F.P10], F.P90: values[F.P90],
        # in the Timestamp's own unit, as a scalar column of run.bottom_mart_rows has it
        "forecast_date": np.full(total, forecast_date.to_datetime64()),
    }, copy=False)  # the mart's column order already: a selection would copy 48M rows
    return bottom, level_rows
