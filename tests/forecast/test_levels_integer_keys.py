"""The levels summed on integer keys are the levels summed on their text keys: the same
sums, keys and order (ids whose text order is not their numeric order: S10 before S2)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from retailops.forecast import frames as F
from retailops.forecast.levels import aggregate_sums


def test_levels_summed_on_integer_keys_are_those_of_the_text_keys():
    rng = np.random.default_rng(5)
    stores = ["S2", "S10", "S1", "S11"]
    products = [f"P{i}" for i in range(30)]
    categories = np.array(["Dairy", "Bakery", "Snacks & Sweets", "Pantry"])
    context = F.ForecastContext(
        products=pd.DataFrame({"product_id": products,
                               "category": categories[rng.integers(0, 4, 30)]}),
        stores=pd.DataFrame({"store_id": stores}))
    days = pd.date_range("2025-07-01", periods=14)
    n = len(stores) * len(products)
    frame = pd.DataFrame({
        F.STORE: np.repeat(np.array(stores, dtype=object), len(products) * 14),
        F.PRODUCT: np.tile(np.repeat(np.array(products, dtype=object), 14), len(stores)),
        F.TARGET_DATE: np.tile(days.to_numpy(), n),
        F.UNITS: rng.gamma(0.5, 3.0, n * 14), "units_filled": rng.gamma(0.5, 3.0, n * 14)})
    frame.loc[3, F.PRODUCT] = "P-unknown"
    got = aggregate_sums(frame, [F.UNITS, "units_filled"], context)

    # The reference: pandas groupby on the text keys, as the levels mart spells them.
    category = frame[F.PRODUCT].map(context.category_of()).fillna("unknown")
    keys = {"store_category": frame[F.STORE] + "|" + category, "category": category,
            "store": frame[F.STORE], "chain": pd.Series("chain", index=frame.index)}
    expected = pd.concat(
        [frame[[F.TARGET_DATE, F.UNITS, "units_filled"]].assign(level_key=keys[level])
         .groupby(["level_key", F.TARGET_DATE], sort=True)[[F.UNITS, "units_filled"]].sum()
         .reset_index().assign(level=level) for level in F.LEVELS], ignore_index=True)
    pd.testing.assert_frame_equal(got, expected, check_exact=True)
    assert got.loc[got["level"] == "store", "level_key"].unique().tolist() == \
        ["S1", "S10", "S11", "S2"]
    assert "S2|unknown" in set(got["level_key"])
