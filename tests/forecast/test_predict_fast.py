"""The daily prediction reads only what it needs (issue 12: <= 15 s at year scale), and must
forecast exactly what it forecast before.

LightGBM's prediction builds its features for the rows it predicts (every series x the 14
target days) from the lookback only, per series and per day, instead of through the training
path's general row builder over the whole history. Here a forecast is recomputed the
straightforward way, one series and one day at a time from the history frame, and must be the
same; so must the training path's own features at the same rows (what the model learnt from is
what it predicts from). The models' panels taken from the lookback alone must be the panels the
whole history gives.
"""

from __future__ import annotations

import functools
import math
from datetime import date

import numpy as np
import pandas as pd
import pytest

from retailops.forecast import frames as F
from retailops.forecast.censoring import CensoringRule, mark_censoring
from retailops.forecast.features import (FEATURE_NAMES, LOOKBACK_DAYS, build_panel,
                                         discount_matrix, features, prediction_features)
from retailops.forecast.gbm import (LightGBMForecaster, _plan_with_observed,
                                    _prediction_discounts)
from retailops.forecast.models import count_interval, dispersion_for, forecast_frame

FIRST = date(2024, 9, 2)
DAYS = 112
# The forecast runs over Christmas: a closed day (effect 0) and named holidays among the targets.
ORIGIN = pd.Timestamp(FIRST) + pd.Timedelta(days=DAYS - 1)
HORIZON = 14


def world(seed: int = 11) -> tuple[pd.DataFrame, F.ForecastContext, pd.DataFrame]:
    """A dense history (``data.load_history``'s shape) with stock-outs, counts, promotions seen
    in the sales (one store sold a product at a discount on the origin), and a promotion plan
    over the target days; the simulation's holiday calendar."""
    rng = np.random.default_rng(seed)
    stores = pd.DataFrame({"store_id": ["S2", "S1", "S3"], "store_type": ["b", "a", "a"],
                           "region": ["s", "n", "s"], "size_sqft": [1500.0, 900.0, 1200.0]})
    n_products = 20
    products = pd.DataFrame({
        "product_id": [f"P{i:02d}" for i in range(n_products)],
        "category": [["dairy", "bakery", "snacks"][i % 3] for i in range(n_products)],
        "subcategory": [f"sub{i % 5}" for i in range(n_products)],
        "list_price": rng.uniform(1, 9, n_products).round(2),
        "is_perishable": [i % 2 == 0 for i in range(n_products)]})
    context = F.ForecastContext(products=products, stores=stores)
    days = pd.date_range(FIRST, periods=DAYS, freq="D")
    n_series = len(stores) * n_products
    rate = rng.gamma(0.8, 3.0, size=(n_series, 1)) * (1 + 0.3 * (days.weekday >= 5))[None, :]
    units = rng.poisson(rate).astype(np.float32)
    on_hand = np.full(units.shape, np.nan, dtype=np.float32)
    for s in range(n_series):
        empty = np.zeros(DAYS, dtype=bool)
        for start in rng.choice(DAYS - 10, size=rng.integers(0, 5), replace=False):
            empty[start:start + rng.integers(2, 10)] = True
        empty[-3:] |= s % 7 == 0                   # some series are out at the origin
        units[s, empty] = 0
        counted = np.arange(rng.integers(0, 7), DAYS, 7)
        on_hand[s, counted] = np.where(empty[counted], 0, rng.integers(1, 40, len(counted)))
    discount = np.zeros(units.shape, dtype=np.float32)
    promoted = rng.random(units.shape) < 0.05
    discount[promoted] = rng.choice([0.1, 0.15, 0.25, 0.3], promoted.sum())
    discount[5, -1] = 0.2                         # S2 x P05 sold at 20% off on the origin
    discount[n_products + 5, -1] = 0.15           # S1 x P05 at 15%: the largest counts
    closed = np.array([context.holiday(d.date())[1] == 0.0 for d in days])
    history = pd.DataFrame({
        F.STORE: pd.Categorical(np.repeat(stores["store_id"], n_products * DAYS)),
        F.PRODUCT: pd.Categorical(np.tile(np.repeat(products["product_id"], DAYS),
                                          len(stores))),
        F.DATE: np.tile(days.to_numpy(), n_series),
        F.UNITS: units.ravel(), F.ON_HAND: on_hand.ravel(),
        F.UNIT_PRICE: np.tile(np.repeat(products["list_price"].to_numpy(np.float32), DAYS),
                              len(stores)),
        F.DISCOUNT: discount.ravel(),
        F.CLOSED: np.tile(closed, n_series)})
    # The plan known on the origin: two promotions over the target days, one on the origin,
    # and one product planned twice on a day (the larger discount holds).
    plan = pd.DataFrame({
        "product_id": ["P03", "P05", "P07", "P07", "P11"],
        "start_date": [ORIGIN + pd.Timedelta(days=d) for d in (2, 0, 5, 6, -3)],
        "end_date": [ORIGIN + pd.Timedelta(days=d) for d in (8, 0, 12, 9, 20)],
        "discount_pct": [0.25, 0.1, 0.1, 0.3, 0.15]})
    return history, context, plan


def reference_features(history: pd.DataFrame, context: F.ForecastContext, plan: pd.DataFrame,
                       origin: pd.Timestamp, horizon: int) -> np.ndarray:
    """The features of every (series, horizon) row, computed one series and one day at a time
    from their definitions (``forecast.features``) on the marked history frame."""
    marked = history[history[F.DATE] <= origin]
    # the store's position among the context's stores (not sorted in this world)
    store_codes = {s: i for i, s in enumerate(context.stores["store_id"])}
    products = context.products.set_index("product_id")
    stores = context.stores.set_index("store_id")

    def code(values: pd.Series, value: str) -> int:
        return sorted(set(values.astype(str))).index(str(value))

    @functools.cache
    def planned(product: str, day: pd.Timestamp) -> float:
        hits = plan[(plan["product_id"] == product) & (pd.to_datetime(plan["start_date"]) <= day)
                    & (day <= pd.to_datetime(plan["end_date"]))]
        return float(hits["discount_pct"].max()) if len(hits) else 0.0

    on_origin = marked[(marked[F.DATE] == origin) & (marked[F.DISCOUNT] > 0)]
    sold_at = on_origin.groupby(F.PRODUCT, observed=True)[F.DISCOUNT].max()
    rows = []
    pairs = marked[[F.STORE, F.PRODUCT]].astype(str).drop_duplicates()
    for store, product in zip(pairs[F.STORE], pairs[F.PRODUCT]):
        one = marked[(marked[F.STORE].astype(str) == store)
                     & (marked[F.PRODUCT].astype(str) == product)].sort_values(F.DATE)
        window = one[one[F.DATE] > origin - pd.Timedelta(days=28)]
        last7 = one[one[F.DATE] > origin - pd.Timedelta(days=7)]
        filled = one.set_index(F.DATE)["units_filled"]
        mean_7 = float(last7["units_filled"].astype(np.float64).sum()) / 7
        mean_28 = float(window["units_filled"].astype(np.float64).sum()) / 28
        unusable = (window[F.CENSORED] | window[F.CLOSED]).sum() / 28
        zero_days = (window[F.UNITS] <= 0).sum() / 28
        before = planned(str(product), origin)
        if str(product) in sold_at.index:
            before = max(before, float(np.round(sold_at[str(product)], 2)))
        p = products.loc[str(product)]
        st = stores.loc[str(store)]
        for h in range(1, horizon + 1):
            target = origin + pd.Timedelta(days=h)
            name, effect = context.holiday(target.date())
            # the same weekday as the target, in the four weeks up to the origin
            weeks_back = math.ceil(h / 7)
            same = sum(float(filled[target - pd.Timedelta(days=7 * (weeks_back + k))])
                       for k in range(4)) / 4
            discount = planned(str(product), target)
            rows.append({
                "horizon": h, "weekday": target.weekday(), "day_of_year": target.dayofyear,
                "holiday_effect": effect, "is_holiday": name is not None,
                "discount": discount, "on_promotion": discount > 0,
                "price": p["list_price"] * (1 - discount), "discount_before": before,
                "store_code": store_codes[str(store)],
                "store_type": code(context.stores["store_type"], st["store_type"]),
                "region": code(context.stores["region"], st["region"]),
                "size_sqft": st["size_sqft"],
                "category": code(context.products["category"], p["category"]),
                "subcategory": code(context.products["subcategory"], p["subcategory"]),
                "is_perishable": p["is_perishable"], "list_price": p["list_price"],
                "mean_7": mean_7, "mean_28": mean_28, "same_weekday_4": same,
                "last_day": float(filled[origin]), "censored_share_28": unusable,
                "zero_share_28": zero_days, "trend_7_28": mean_7 / max(mean_28, 0.05)})
    # float32, as the model's features are stored
    return pd.DataFrame(rows)[list(FEATURE_NAMES)].to_numpy(dtype=np.float64).astype(np.float32)


@pytest.fixture(scope="module")
def fitted():
    history, context, plan = world()
    marked = mark_censoring(history)
    known = marked[marked[F.DATE] <= ORIGIN - pd.Timedelta(days=HORIZON)]
    model = LightGBMForecaster(num_boost_round=30, max_rows=20_000, num_threads=1)
    model.fit(known.reset_index(drop=True), plan, context)
    return model, marked, context, plan


def test_the_daily_forecast_is_the_one_computed_series_by_series(fitted):
    model, marked, context, plan = fitted
    expected_X = reference_features(marked, context, plan, ORIGIN, HORIZON)
    # the world holds what the features must handle: stock-outs in the lookback, promotions
    # planned and seen on the origin, a closed day and named holidays among the targets
    assert expected_X[:, FEATURE_NAMES.index("censored_share_28")].max() > 0.1
    assert (expected_X[:, FEATURE_NAMES.index("discount")] > 0).sum() >= 3 * 10
    # S2 x P05: planned at 10% on the origin, sold there at 20% (S2) and 15% (S1)
    assert expected_X[5 * HORIZON, FEATURE_NAMES.index("discount_before")] == np.float32(0.2)
    assert (expected_X[:, FEATURE_NAMES.index("holiday_effect")] == 0).any()
    assert expected_X[:, FEATURE_NAMES.index("is_holiday")].sum() > len(expected_X) / 14

    # the fast path's features, feature by feature
    panel = build_panel(marked, context, model.rule, until=ORIGIN.date(),
                        last_days=LOOKBACK_DAYS + 1)
    targets = pd.date_range(ORIGIN + pd.Timedelta(days=1), periods=HORIZON)
    X = prediction_features(panel, context, HORIZON,
                            _prediction_discounts(plan, marked, panel, context, targets))
    for j, name in enumerate(FEATURE_NAMES):
        np.testing.assert_array_equal(X[:, j], expected_X[:, j], err_msg=name)

    forecast = model.predict(marked, ORIGIN.date(), HORIZON, plan, context)

    raw = model.booster.predict(expected_X.astype(np.float64), raw_score=True)
    mean_28 = expected_X[:, FEATURE_NAMES.index("mean_28")].astype(np.float64)
    mean = np.exp(raw + np.log(np.maximum(mean_28, 0.05))).reshape(-1, HORIZON)
    closed = np.array([context.holiday(d.date())[1] == 0.0 for d in targets])
    assert closed.sum() == 1
    mean[:, closed] = 0.0
    assert (mean > 0).mean() > 0.5
    # bit for bit: the same float32 feature values reach the same trees
    np.testing.assert_array_equal(forecast[F.UNITS].to_numpy().reshape(-1, HORIZON), mean)
    low, high = count_interval(mean, dispersion_for(mean, *model.dispersion["store_product"]))
    np.testing.assert_array_equal(forecast[F.P10].to_numpy(), low.ravel())
    np.testing.assert_array_equal(forecast[F.P90].to_numpy(), high.ravel())
    series = marked[[F.STORE, F.PRODUCT]].drop_duplicates().astype(str)
    assert list(zip(forecast[F.STORE], forecast[F.PRODUCT]))[::HORIZON] == \
        list(zip(series[F.STORE], series[F.PRODUCT]))
    assert (forecast[F.TARGET_DATE].to_numpy()[:HORIZON] == targets.to_numpy()).all()


def test_the_daily_forecast_is_the_training_paths_features_at_the_same_rows(fitted):
    """The general row builder the model trains on, over the whole history up to the origin,
    at every series x horizon: the same forecast, bit for bit."""
    model, marked, context, plan = fitted
    panel = build_panel(marked, context, model.rule, until=ORIGIN.date())
    days = pd.date_range(ORIGIN + pd.Timedelta(days=1), periods=HORIZON)
    all_days = panel.days.append(days)
    discounts = discount_matrix(_plan_with_observed(plan, marked[marked[F.DATE] <= ORIGIN]),
                                context, all_days)
    n_series = len(panel.series)
    rows = np.repeat(np.arange(n_series), HORIZON)
    X = features(panel, context, rows, np.full(len(rows), len(panel.days) - 1),
                 np.tile(np.arange(1, HORIZON + 1), n_series), discounts, all_days)
    mean = model._mean(X).reshape(n_series, HORIZON)
    mean[:, [context.holiday(d.date())[1] == 0.0 for d in days]] = 0.0
    low, high = count_interval(mean, dispersion_for(mean, *model.dispersion["store_product"]))
    expected = forecast_frame(panel.series, days, mean, low, high)
    forecast = model.predict(marked, ORIGIN.date(), HORIZON, plan, context)
    pd.testing.assert_frame_equal(forecast, expected, check_exact=True)


@pytest.mark.parametrize("marked_first", [True, False])
@pytest.mark.parametrize("until, last_days", [(None, None), (ORIGIN.date(), 29),
                                              (date(2024, 11, 1), 28), (ORIGIN.date(), 500)])
def test_a_panel_of_the_lookback_is_the_tail_of_the_whole_panel(marked_first, until, last_days):
    history, context, _ = world(seed=4)
    if marked_first:
        history = mark_censoring(history)
    whole = build_panel(history, context, CensoringRule(), until=until)
    expected_days = (history[F.DATE] <= pd.Timestamp(until or ORIGIN)).groupby(
        [history[F.STORE], history[F.PRODUCT]], observed=True).sum().iloc[0]
    assert len(whole.days) == expected_days
    expected = whole.tail(last_days) if last_days else whole
    got = build_panel(history, context, CensoringRule(), until=until, last_days=last_days)
    assert got.days.equals(expected.days) and got.series.equals(expected.series)
    for name in ("units", "filled", "usable", "store_index", "product_index"):
        np.testing.assert_array_equal(getattr(got, name), getattr(expected, name), err_msg=name)


def test_the_days_of_a_history_not_in_the_dense_order_are_its_distinct_days():
    history, context, _ = world(seed=4)
    shuffled = history.sample(frac=1.0, random_state=1)
    from retailops.forecast.features import history_days

    assert history_days(shuffled).equals(pd.date_range(FIRST, periods=DAYS, freq="D"))
    assert history_days(history).equals(pd.date_range(FIRST, periods=DAYS, freq="D"))
    one_series = history[(history[F.STORE] == "S1") & (history[F.PRODUCT] == "P00")]
    assert history_days(one_series).equals(pd.date_range(FIRST, periods=DAYS, freq="D"))


def reference_table(rows: pd.DataFrame, columns: list[tuple[str, str]]):
    """A mart file's table the straightforward way: Python dates, text, pyarrow from pandas."""
    import pyarrow as pa

    types = {"DATE": pa.date32(), "VARCHAR": pa.string(), "DOUBLE": pa.float64()}
    frame = rows[[name for name, _ in columns]].copy()
    for name, kind in columns:
        if kind == "DATE":
            frame[name] = pd.to_datetime(frame[name]).dt.date
        elif kind == "VARCHAR":
            frame[name] = frame[name].astype(str)
    return pa.Table.from_pandas(frame, schema=pa.schema([(n, types[k]) for n, k in columns]),
                                preserve_index=False)


def test_the_forecast_marts_files_hold_every_models_rows_as_pyarrow_writes_them(tmp_path):
    """The stacked rows of the models (categorical text, no per-row copies) and the files
    written from them: the values the plain pandas way gives, row for row."""
    import io

    import pyarrow.parquet as pq

    from retailops.forecast.run import bottom_mart_rows, write_mart
    from retailops.lake.storage import Lake
    from retailops.warehouse.forecast_marts import MARTS_BY_NAME

    rng = np.random.default_rng(2)
    series = pd.MultiIndex.from_product([["S2", "S1"], ["P01", "P00", "P10"]])
    days = pd.date_range("2025-06-30", periods=3)
    mean = rng.gamma(1.0, 2.0, (len(series), len(days)))
    naive = forecast_frame(series, days, mean, mean * 0.5, mean * 2)
    gbm = forecast_frame(series, days, mean * 1.1, mean, mean * 3)
    gbm[F.STORE] = gbm[F.STORE].astype("category")          # a model may give categoricals
    gbm.loc[4, F.UNITS] = np.nan                             # a missing value is a null
    bottoms = {"seasonal_naive": naive, "lightgbm": gbm}
    versions = {"seasonal_naive": "2025-06-29_20250630T010203Z",
                "lightgbm": "2025-06-29_20250630T010203Z"}  # the same second: one version
    day = pd.Timestamp("2025-06-29")
    rows = bottom_mart_rows(bottoms, versions, day)
    expected = pd.concat([b.assign(model=n, model_version=versions[n])
                          for n, b in bottoms.items()], ignore_index=True)
    assert list(rows.columns) == [*F.FORECAST_MART_COLUMNS, "forecast_date"]
    assert len(rows) == 2 * len(series) * len(days)
    assert (rows["forecast_date"] == day).all()
    for column in F.FORECAST_MART_COLUMNS:
        assert rows[column].astype(str).tolist() == expected[column].astype(str).tolist(), \
            column

    lake = Lake(str(tmp_path))
    (path,) = write_mart(lake, "fct_demand_forecast", rows)
    assert path == "curated/fct_demand_forecast/forecast_date=2025-06-29/forecast.parquet"
    written = pq.read_table(io.BytesIO(lake.read_bytes(path)))
    mart = MARTS_BY_NAME["fct_demand_forecast"]
    reference = reference_table(expected.assign(forecast_date=day), mart.file_columns())
    assert written.equals(reference), (written.schema, reference.schema)
    assert written.column("units").null_count == 1

    levels = pd.DataFrame({"forecast_date": [day, day, day + pd.Timedelta(days=1)],
                           "target_date": [day + pd.Timedelta(days=d) for d in (1, 2, 2)],
                           "level": ["chain", "store", "chain"],
                           "level_key": ["chain", "S1", "chain"], "model": ["lightgbm"] * 3,
                           "units": [10.0, 4.0, 9.0], "units_p10": [8.0, 2.0, 7.0],
                           "units_p90": [12.0, 6.0, 11.0]})
    paths = write_mart(lake, "fct_demand_forecast_levels", levels)
    assert [p.split("/")[2] for p in paths] == ["forecast_date=2025-06-29",
                                                "forecast_date=2025-06-30"]
    level_mart = MARTS_BY_NAME["fct_demand_forecast_levels"]
    for p, part in zip(paths, (levels.iloc[:2], levels.iloc[2:])):
        assert pq.read_table(io.BytesIO(lake.read_bytes(p))).equals(
            reference_table(part, level_mart.file_columns()))


def test_the_loaded_history_is_every_cell_summed_from_the_sale_rows():
    """``data.load_history`` (ids matched on their distinct values, days by arithmetic, the
    frame's columns left unconsolidated) against a plain pandas densification of the rows."""
    from retailops.forecast.data import load_history

    first, last = date(2025, 3, 1), date(2025, 3, 6)
    stores = pd.DataFrame({"store_id": ["S2", "S1"], "store_type": ["a", "b"],
                           "region": ["n", "s"], "size_sqft": [1.0, 2.0]})
    products = pd.DataFrame({"product_id": ["P1", "P2", "P3"], "category": ["a", "b", "a"],
                             "list_price": [2.0, 3.5, 1.25]})
    context = F.ForecastContext(products=products, stores=stores)
    sales = pd.DataFrame({
        "store_id": ["S1", "S1", "S2", "S9", "S2", "S1", None],
        "product_id": ["P2", "P2", "P1", "P1", "P3", "P1", "P1"],
        "quantity": [2.0, 3.0, 1.0, 7.0, 4.0, 5.0, 6.0],
        "gross_revenue": [7.0, 10.5, 2.0, 14.0, 5.0, 10.0, 12.0],
        "discount_amount": [0.7, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0],
        # the second S1 x P2 row is the same cell; 03-09 is outside the window
        "sale_date": pd.to_datetime(["2025-03-02", "2025-03-02", "2025-03-06", "2025-03-03",
                                     "2025-03-01", "2025-03-09", "2025-03-04"])})
    counts = pd.DataFrame({"store_id": ["S2", "S1"], "product_id": ["P3", "P2"],
                           "quantity_on_hand": [0.0, 12.0],
                           "snapshot_date": pd.to_datetime(["2025-03-05", "2025-03-02"])})

    class Reader:
        def read(self, mart, columns, date_column=None, first=None, last=None):
            frame = {"fct_daily_sales": sales, "fct_inventory_snapshots": counts}[mart]
            return frame[list(columns)]

    history = load_history(Reader(), first, last, context)

    cells = pd.MultiIndex.from_product(
        [stores["store_id"], products["product_id"], pd.date_range(first, last)],
        names=[F.STORE, F.PRODUCT, F.DATE]).to_frame(index=False)
    summed = sales.rename(columns={"sale_date": F.DATE}).groupby(
        [F.STORE, F.PRODUCT, F.DATE])[["quantity", "gross_revenue", "discount_amount"]].sum()
    expected = cells.merge(summed.reset_index(), how="left").fillna(
        {"quantity": 0.0, "gross_revenue": 0.0, "discount_amount": 0.0})
    expected = expected.merge(counts.rename(columns={"snapshot_date": F.DATE}), how="left")
    assert history[F.STORE].astype(str).tolist() == expected[F.STORE].tolist()
    assert history[F.PRODUCT].astype(str).tolist() == expected[F.PRODUCT].tolist()
    assert (history[F.DATE].to_numpy() == expected[F.DATE].to_numpy()).all()
    np.testing.assert_array_equal(history[F.UNITS], expected["quantity"].astype(np.float32))
    np.testing.assert_array_equal(history[F.ON_HAND],
                                  expected["quantity_on_hand"].astype(np.float32))
    share = np.where(expected["gross_revenue"] > 0,
                     expected["discount_amount"] / expected["gross_revenue"].where(
                         expected["gross_revenue"] > 0, 1.0), 0.0)
    np.testing.assert_allclose(history[F.DISCOUNT], share, rtol=1e-6)
    assert history[F.UNITS].sum() == 2 + 3 + 1 + 4           # S9, None and 03-09 left out
    assert history[F.UNIT_PRICE].tolist() == \
        products.set_index("product_id").loc[expected[F.PRODUCT], "list_price"].tolist()
