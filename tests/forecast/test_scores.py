"""The accuracy metrics on hand-made numbers: each expected value is worked out here, by hand or
with plain numpy loops, never with retailops.forecast.scores."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from retailops.forecast.scores import (
    DenseHistory,
    bias,
    level_keys,
    mase,
    score_panel,
    seasonal_naive_scales,
    wape,
)
from retailops.forecast.truth import compound_poisson_quantiles

CATEGORY_OF = pd.Series({"P1": "Dairy", "P2": "Dairy", "P3": "Bakery"})


def test_wape_and_bias_by_hand():
    actual = np.array([4.0, 0.0, 6.0])
    forecast = np.array([3.0, 1.0, 8.0])
    # |3-4| + |1-0| + |8-6| = 4 over 10 sold; (−1 + 1 + 2) = 2 over 10
    assert wape(actual, forecast) == pytest.approx(0.4)
    assert bias(actual, forecast) == pytest.approx(0.2)
    assert bias(actual, actual * 0.9) == pytest.approx(-0.1)


def test_mase_divides_by_the_rows_seasonal_naive_scale():
    actual = np.array([2.0, 2.0])
    forecast = np.array([3.0, 0.0])
    assert mase(actual, forecast, np.array([0.5, 1.0])) == pytest.approx(3.0 / 1.5)


def test_level_keys_follow_the_levels_mart():
    stores = pd.Series(["S1", "S2"])
    products = pd.Series(["P1", "P3"])
    assert list(level_keys(stores, products, "store_product", CATEGORY_OF)) == ["S1|P1", "S2|P3"]
    assert list(level_keys(stores, products, "store_category", CATEGORY_OF)) == [
        "S1|Dairy", "S2|Bakery"]
    assert list(level_keys(stores, products, "category", CATEGORY_OF)) == ["Dairy", "Bakery"]
    assert list(level_keys(stores, products, "store", CATEGORY_OF)) == ["S1", "S2"]
    assert list(level_keys(stores, products, "chain", CATEGORY_OF)) == ["chain", "chain"]
    with pytest.raises(ValueError, match="P9"):
        level_keys(pd.Series(["S1"]), pd.Series(["P9"]), "category", CATEGORY_OF)


def _history(days: int, rng: np.random.Generator) -> pd.DataFrame:
    rows = [(s, p, pd.Timestamp("2024-07-01") + pd.Timedelta(days=d), float(rng.poisson(3)))
            for s in ("S1", "S2") for p in ("P1", "P2", "P3") for d in range(days)]
    frame = pd.DataFrame(rows, columns=["store_id", "product_id", "date", "units"])
    return frame[frame["units"] > 0]  # days without sales have no row, as in the marts


def test_seasonal_naive_scale_by_loops():
    rng = np.random.default_rng(7)
    history = _history(20, rng)
    dense = DenseHistory.from_history(history)
    origin = pd.Timestamp("2024-07-15")  # day index 14
    scales = seasonal_naive_scales(dense, [origin], "store_category", CATEGORY_OF)
    got = dict(zip(scales["level_key"], scales["scale"]))

    def units(store, products, day):
        mask = ((history["store_id"] == store) & history["product_id"].isin(products)
                & (history["date"] == pd.Timestamp("2024-07-01") + pd.Timedelta(days=day)))
        return history.loc[mask, "units"].sum()

    for store in ("S1", "S2"):
        for category, products in (("Dairy", ["P1", "P2"]), ("Bakery", ["P3"])):
            changes = [abs(units(store, products, t) - units(store, products, t - 7))
                       for t in range(7, 15)]
            assert got[f"{store}|{category}"] == pytest.approx(sum(changes) / len(changes))


def test_score_panel_matches_a_direct_computation():
    rng = np.random.default_rng(11)
    history = _history(21, rng)
    origin = pd.Timestamp("2024-07-21")
    targets = pd.date_range("2024-07-22", periods=3)
    panel = pd.DataFrame([(origin, s, p, t) for s in ("S1", "S2") for p in ("P1", "P2", "P3")
                          for t in targets],
                         columns=["origin", "store_id", "product_id", "target_date"])
    panel["observed_units"] = rng.poisson(3, len(panel)).astype(float)
    panel["demanded_units"] = panel["observed_units"] + rng.poisson(1, len(panel))
    panel["oracle"] = panel["demanded_units"] + rng.normal(0, 0.5, len(panel))
    panel["naive"] = rng.poisson(3, len(panel)).astype(float)
    table = score_panel(panel, ["naive", "oracle"], DenseHistory.from_history(history),
                        CATEGORY_OF, horizon=3)
    assert len(table) == 5 * 2 * 2
    assert set(table["origins"]) == {1} and set(table["horizon_days"]) == {3}

    # The category level, against true demand, by a plain loop over groups.
    cat = panel["product_id"].map(CATEGORY_OF)
    errors, demand, signed, scale_total = 0.0, 0.0, 0.0, 0.0
    for (category, day), group in panel.groupby([cat, "target_date"]):
        f, a = group["naive"].sum(), group["demanded_units"].sum()
        errors += abs(f - a)
        signed += f - a
        demand += a
    for category, products in (("Dairy", ["P1", "P2"]), ("Bakery", ["P3"])):
        series = (history[history["product_id"].isin(products)].groupby("date")["units"].sum()
                  .reindex(pd.date_range("2024-07-01", "2024-07-21"), fill_value=0.0))
        values = series.to_numpy()
        scale = np.mean(np.abs(values[7:] - values[:-7]))
        scale_total += scale * len(targets)
    row = table[(table.model == "naive") & (table.level == "category")
                & (table.against == "true_demand")].iloc[0]
    assert row.wape == pytest.approx(errors / demand)
    assert row.bias == pytest.approx(signed / demand)
    assert row.mase == pytest.approx(errors / scale_total)
    oracle = table[(table.model == "oracle") & (table.level == "category")
                   & (table.against == "true_demand")].iloc[0]
    assert row.oracle_wape == pytest.approx(oracle.wape)
    assert row.wape_ratio_to_oracle == pytest.approx(row.wape / oracle.wape)
    assert oracle.wape_ratio_to_oracle == pytest.approx(1.0)


def test_oracle_interval_is_the_demand_distributions():
    # The simulation's demand: Poisson(λ) shoppers, each buying 1 + Poisson(0.25) units.
    rng = np.random.default_rng(3)
    for expected in (0.4, 3.0, 12.0):
        shoppers = rng.poisson(expected / 1.25, 40_000)
        demand = shoppers + np.array([rng.poisson(0.25, n).sum() for n in shoppers])
        p10, p90 = compound_poisson_quantiles(np.array([expected]), (0.1, 0.9), grid_points=400)
        # the smallest q with P(demand <= q) >= level, allowing one unit of Monte Carlo slack
        for level, got in ((0.1, p10[0]), (0.9, p90[0])):
            exact = np.sort(demand)[int(np.ceil(level * demand.size)) - 1]
            assert abs(got - exact) <= 1, (expected, level, got, exact)


def test_a_combination_is_the_mean_of_its_members_forecasts():
    from retailops.errors import RetailOpsError
    from retailops.forecast.backtest import combine_forecasts

    forecasts = pd.DataFrame({
        "origin": pd.Timestamp("2024-01-07"), "model": ["a", "b", "a", "b", "c"],
        "store_id": "S1", "product_id": ["P1", "P1", "P2", "P2", "P1"],
        "target_date": pd.Timestamp("2024-01-08"), "units": [1.0, 3.0, 0.0, 2.0, 100.0],
        "units_p10": [0.0, 1.0, 0.0, 0.0, 90.0], "units_p90": [2.0, 6.0, 1.0, 4.0, 110.0]})
    combined = combine_forecasts(forecasts, {"a+b": ["a", "b"]})
    assert combined["model"].tolist() == ["a+b", "a+b"]
    assert combined["units"].tolist() == [2.0, 1.0]          # (1+3)/2, (0+2)/2; c left out
    assert combined["units_p90"].tolist() == [4.0, 2.5]
    with pytest.raises(RetailOpsError, match="unknown: \\['z'\\]"):
        combine_forecasts(forecasts, {"a+z": ["a", "z"]})


def test_the_stage_combines_bottom_forecasts_and_their_variance_models():
    from retailops.forecast.run import combine

    cells = {"store_id": ["S1", "S1"], "product_id": ["P1", "P2"],
             "target_date": [pd.Timestamp("2024-01-08")] * 2}
    a = pd.DataFrame({**cells, "units": [1.0, 4.0], "units_p10": 0.0, "units_p90": 9.0})
    b = pd.DataFrame({**cells, "units": [3.0, 0.0], "units_p10": 0.0, "units_p90": 9.0})
    bottom, dispersion = combine({"a": a, "b": b},
                                 {"a": {"chain": (1.0, 0.2)}, "b": {"chain": (3.0, 0.0)}},
                                 ["a", "b"])
    assert bottom["units"].tolist() == [2.0, 2.0]
    assert dispersion == {"chain": (2.0, 0.1)}
    assert (bottom["units_p10"] <= bottom["units"]).all()
    assert (bottom["units"] <= bottom["units_p90"]).all()
    with pytest.raises(ValueError, match="b forecast other cells than a"):
        combine({"a": a, "b": b.iloc[::-1]}, {"a": {}, "b": {}}, ["a", "b"])
