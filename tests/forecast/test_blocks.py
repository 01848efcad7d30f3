"""Prediction a block of stores at a time (``forecast.blocks``) gives the forecasts of the whole
chain bit for bit, on real marts (a DuckDB file): both marts' rows, every model, with stock-outs
to impute (the chain's weekday profile) and a discount sold on the origin day by one store only
(the chain's largest). And a training run at a large scale reads a sample of the stores."""

from __future__ import annotations

from datetime import date, timedelta
from types import SimpleNamespace

import duckdb
import numpy as np
import pandas as pd
import pytest

from retailops.forecast import blocks, frames as F, run
from retailops.forecast.censoring import CensoringRule, mark_censoring
from retailops.forecast.data import WarehouseMarts, load_context, load_history
from retailops.forecast.models import forecasters
from retailops.warehouse.engines import DuckDBWarehouse

FIRST, DAYS = date(2024, 11, 4), 200
LAST = FIRST + timedelta(days=DAYS - 1)
STORES = ["S1", "S10", "S2", "S3", "S4"]          # text order: S1, S10, S2, S3, S4
N_PRODUCTS = 12
PARAMS = {"models": ["seasonal_naive", "intermittent", "lightgbm"],
          "production_model": "lightgbm", "horizon_days": 14,
          "intermittent": {"model": "TSB", "window_days": 112},
          "lightgbm": {"num_boost_round": 12, "max_rows": 20_000, "num_threads": 1}}


def write_marts(path, seed: int = 5) -> None:
    """A chain's marts: Poisson sales with a weekly cycle, stock-outs of 2-12 days (zero sales,
    a count at zero when the weekly count falls in one), and on the last day one store alone
    selling a product at a discount."""
    rng = np.random.default_rng(seed)
    products = [f"P{i:02d}" for i in range(N_PRODUCTS)]
    price = rng.uniform(1, 9, N_PRODUCTS).round(2)
    days = pd.date_range(FIRST, periods=DAYS, freq="D")
    sales, counts = [], []
    for s, store in enumerate(STORES):
        for p, product in enumerate(products):
            rate = rng.gamma(0.9, 2.0) * (1 + 0.4 * (days.weekday >= 5)) * (1 + 0.2 * s)
            units = rng.poisson(rate)
            empty = np.zeros(DAYS, dtype=bool)
            for start in rng.choice(DAYS - 12, size=rng.integers(0, 5), replace=False):
                empty[start:start + rng.integers(2, 13)] = True
            units[empty] = 0
            for d in np.flatnonzero(units > 0):
                discount = 0.0
                if d == DAYS - 1 and store == "S4" and product == "P03":
                    discount = 0.25
                gross = float(units[d] * price[p])
                sales.append((store, product, int(units[d]), gross, round(gross * discount, 4),
                              days[d].date()))
            for d in range(int(rng.integers(0, 7)), DAYS, 7):
                counts.append((store, product, 0 if empty[d] else int(rng.integers(1, 40)),
                               days[d].date()))
    assert any(row[4] > 0 for row in sales)
    con = duckdb.connect(str(path))
    con.execute("create schema marts")
    con.execute("create table marts.dim_stores (store_id varchar, store_type varchar, "
                "region varchar, store_cluster integer, size_sqft double)")
    con.executemany("insert into marts.dim_stores values (?, ?, ?, ?, ?)",
                    [(s, "ab"[i % 2], "ns"[i % 2], i % 3, 900.0 + 100 * i)
                     for i, s in enumerate(STORES)])
    con.execute("create table marts.dim_products (product_id varchar, category varchar, "
                "subcategory varchar, list_price double, is_perishable boolean)")
    con.executemany("insert into marts.dim_products values (?, ?, ?, ?, ?)",
                    [(p, ["dairy", "bakery", "snacks"][i % 3], f"sub{i % 6}", float(price[i]),
                      i % 2 == 0) for i, p in enumerate(products)])
    sales_rows = pd.DataFrame(sales, columns=["store_id", "product_id", "quantity",
                                              "gross_revenue", "discount_amount", "sale_date"])
    count_rows = pd.DataFrame(counts, columns=["store_id", "product_id", "quantity_on_hand",
                                               "snapshot_date"])
    con.register("sales_rows", sales_rows)
    con.register("count_rows", count_rows)
    con.execute("create table marts.fct_daily_sales as select store_id, product_id, "
                "quantity::bigint as quantity, gross_revenue::double as gross_revenue, "
                "discount_amount::double as discount_amount, sale_date::date as sale_date "
                "from sales_rows")
    con.execute("create table marts.fct_inventory_snapshots as select store_id, product_id, "
                "quantity_on_hand::integer as quantity_on_hand, "
                "snapshot_date::date as snapshot_date from count_rows")
    con.close()


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    path = tmp_path_factory.mktemp("blocks") / "w.duckdb"
    write_marts(path)
    reader = WarehouseMarts(DuckDBWarehouse(str(path)))
    context = load_context(reader)
    # The models trained once on the whole chain's year, as a weekly training stores them.
    history = mark_censoring(load_history(reader, FIRST, LAST, context))
    models = {}
    for name, model in forecasters(PARAMS).items():
        model.fit(history, None, context)
        model.dispersion = {level: (1.3, 0.05) for level in ("store_product", *F.LEVELS)}
        models[name] = run.ModelRun(name, model, SimpleNamespace(version=f"{name}-v1"),
                                    False, "stored")
    return {"reader": reader, "context": context, "models": models}


def predicted(chain, **params):
    """``run.predict`` of a predict-only day, as the stage runs it: inputs gathered for the
    lookback (``run.predict_days``), then both marts' rows."""
    params = {**PARAMS, **params}
    inputs = run.gather_inputs(chain["reader"], None, params, days=run.predict_days(params))
    assert (inputs.reader is not None) == blocks.blocked(inputs.context, params)
    return run.predict(inputs, chain["models"], params)


def test_blocks_of_stores_forecast_the_whole_chain_bit_for_bit(chain):
    context = chain["context"]
    # 2 stores a block: 3 blocks (2, 2, 1 stores)
    assert blocks.store_blocks(context, 2 * N_PRODUCTS) == [["S1", "S10"], ["S2", "S3"], ["S4"]]
    whole_bottom, whole_levels = predicted(chain)
    block_bottom, block_levels = predicted(chain, block_series=2 * N_PRODUCTS)
    assert len(whole_bottom) == 3 * len(STORES) * N_PRODUCTS * 14
    pd.testing.assert_frame_equal(block_bottom, whole_bottom, check_exact=True)
    pd.testing.assert_frame_equal(block_levels, whole_levels, check_exact=True)
    # One store a block, and a bound above the chain (one block: the whole path)
    one_bottom, one_levels = predicted(chain, block_series=N_PRODUCTS + 3)
    pd.testing.assert_frame_equal(one_bottom, whole_bottom, check_exact=True)
    pd.testing.assert_frame_equal(one_levels, whole_levels, check_exact=True)
    assert blocks.store_blocks(context, 10**6) == [STORES]


def test_what_joins_the_blocks_is_taken_from_the_whole_chain(chain):
    """The two things the test above would catch if a block used its own: the imputation's
    weekday profile and the origin day's largest discount sold."""
    reader, context = chain["reader"], chain["context"]
    first = LAST - timedelta(days=174)
    rule = CensoringRule()
    shared = blocks.chain_shared(reader, first, LAST, context, rule,
                                 blocks.store_blocks(context, 2 * N_PRODUCTS))
    whole = mark_censoring(load_history(reader, first, LAST, context))
    block = load_history(reader, first, LAST, context, stores=["S1", "S10"])
    own = mark_censoring(block)
    chained = mark_censoring(block, profile=shared.profile)
    in_whole = whole[whole[F.STORE].isin(["S1", "S10"])].reset_index(drop=True)
    np.testing.assert_array_equal(chained["units_filled"].to_numpy(),
                                  in_whole["units_filled"].to_numpy())
    assert (own["units_filled"].to_numpy() != in_whole["units_filled"].to_numpy()).any()
    # P03 sold at 25% off on the last day by S4 only: the chain's largest, not S1's none.
    p03 = context.products["product_id"].tolist().index("P03")
    largest = shared.sold_discounts[pd.Timestamp(LAST)]
    assert largest[p03] == np.float32(0.25) and (np.delete(largest, p03) == 0).all()
    _, _, block_largest = blocks.block_shares(block, context, rule)
    assert block_largest[p03] == 0
    # and LightGBM's origin-day discounts read the chain's through the context
    from dataclasses import replace

    from retailops.forecast.features import build_panel
    from retailops.forecast.gbm import _prediction_discounts

    panel = build_panel(chained, context, rule, until=LAST, last_days=29)
    days = F.target_days(LAST, 14)
    alone = _prediction_discounts(None, chained, panel, context, days)
    told = _prediction_discounts(None, chained, panel,
                                 replace(context, sold_discounts=shared.sold_discounts), days)
    assert alone[p03, 0] == 0 and told[p03, 0] == 0.25
    np.testing.assert_array_equal(np.delete(told, p03, axis=0), np.delete(alone, p03, axis=0))


def test_a_training_run_at_scale_reads_a_sample_of_the_stores(chain):
    context = chain["context"]
    assert blocks.training_stores(context, {"training_series": 10**6}) is None
    assert blocks.training_stores(context, {}) is None
    # At most 2 stores' series: every 3rd store of the sorted ids.
    assert blocks.training_stores(context, {"training_series": 2 * N_PRODUCTS + 5}) == \
        ["S1", "S3"]
    params = {**PARAMS, "block_series": 2 * N_PRODUCTS, "training_series": 2 * N_PRODUCTS}
    inputs = run.gather_inputs(chain["reader"], None, params, days=364)
    assert inputs.reader is not None
    assert sorted(inputs.history[F.STORE].astype(str).unique()) == ["S1", "S3"]
    assert len(inputs.history) == 2 * N_PRODUCTS * DAYS
