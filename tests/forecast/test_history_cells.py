"""``load_history`` puts each sale row in its cell directly when the mart holds one row per
store x product x day (the daily mart), and sums the rows of a cell otherwise: both give the
cells a pandas groupby sums here, rounded to float32 once, with a negative zero summed to zero
as a sum from 0.0 gives it. The store and product categoricals keep their codes in the type
pandas itself picks."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from retailops.forecast import frames as F
from retailops.forecast.data import load_history

FIRST, LAST = date(2025, 3, 1), date(2025, 3, 4)


class Rows:
    """A mart reader over frames (load_history's text-id path)."""

    def __init__(self, sales: pd.DataFrame, counts: pd.DataFrame):
        self.frames = {"fct_daily_sales": sales, "fct_inventory_snapshots": counts}

    def read(self, mart, columns, date_column=None, first=None, last=None):
        return self.frames[mart][list(columns)]


def context(n_stores: int, n_products: int) -> F.ForecastContext:
    stores = pd.DataFrame({"store_id": [f"S{i:03d}" for i in range(n_stores)],
                           "store_type": "a", "region": "n", "size_sqft": 100.0})
    products = pd.DataFrame({"product_id": [f"P{i:03d}" for i in range(n_products)],
                             "category": "c", "subcategory": "s", "list_price": 2.5,
                             "is_perishable": False})
    return F.ForecastContext(products=products, stores=stores)


def sales_rows(rng, n: int, stores: int, products: int, duplicates: bool) -> pd.DataFrame:
    cells = pd.MultiIndex.from_product([range(stores), range(products), range(4)]).to_frame(
        index=False, name=["s", "p", "d"])
    rows = cells.sample(n=min(n, len(cells)), random_state=1).reset_index(drop=True)
    if duplicates:
        rows = pd.concat([rows, rows.iloc[:5]], ignore_index=True)
    quantity = rng.integers(1, 9, len(rows)).astype(float)
    gross = np.round(quantity * rng.uniform(1, 5, len(rows)), 2)
    discount = np.round(gross * rng.choice([0.0, 0.1, 0.25], len(rows)), 3)
    discount[0] = -0.0
    return pd.DataFrame({"store_id": [f"S{s:03d}" for s in rows["s"]],
                         "product_id": [f"P{p:03d}" for p in rows["p"]],
                         "quantity": quantity, "gross_revenue": gross,
                         "discount_amount": discount,
                         "sale_date": pd.Timestamp(FIRST) + pd.to_timedelta(rows["d"], "D")})


@pytest.mark.parametrize("duplicates", [False, True])
def test_cells_hold_the_summed_rows(duplicates):
    rng = np.random.default_rng(4)
    sales = sales_rows(rng, 40, 3, 5, duplicates)
    counts = pd.DataFrame({"store_id": ["S001"], "product_id": ["P002"],
                           "quantity_on_hand": [0], "snapshot_date": [pd.Timestamp(FIRST)]})
    history = load_history(Rows(sales, counts), FIRST, LAST, context(3, 5))
    expected = (sales.groupby(["store_id", "product_id", "sale_date"])
                [["quantity", "gross_revenue", "discount_amount"]].sum())
    cells = history.set_index([history[F.STORE].astype(str), history[F.PRODUCT].astype(str),
                               F.DATE])
    for column, source in ((F.UNITS, "quantity"),):
        got = cells[column].reindex(expected.index).to_numpy()
        np.testing.assert_array_equal(got, expected[source].to_numpy().astype(np.float32))
    assert cells[F.UNITS].sum() == np.float32(sales["quantity"].sum())
    # gross and discount give the discount share: the share the summed cell shows
    share = (expected["discount_amount"] / expected["gross_revenue"]).astype(np.float32)
    np.testing.assert_allclose(cells[F.DISCOUNT].reindex(expected.index).to_numpy(),
                               share.to_numpy(), rtol=1e-6)
    # A negative zero discount sums to +0.0 (as bincount's 0.0 + -0.0 does): no -0.0 anywhere.
    assert not np.signbit(history[F.DISCOUNT].to_numpy()).any()
    if duplicates:
        assert (sales.duplicated(["store_id", "product_id", "sale_date"])).sum() == 5


@pytest.mark.parametrize("n_stores, n_products", [(3, 5), (130, 2)])
def test_id_codes_are_in_pandas_own_type(n_stores, n_products):
    empty = pd.DataFrame({"store_id": [], "product_id": [], "quantity": [],
                          "gross_revenue": [], "discount_amount": [], "sale_date": []})
    counts = pd.DataFrame({"store_id": [], "product_id": [], "quantity_on_hand": [],
                           "snapshot_date": []})
    ctx = context(n_stores, n_products)
    history = load_history(Rows(empty, counts), FIRST, LAST, ctx)
    for column, ids, repeat, tile in ((F.STORE, ctx.stores["store_id"], n_products * 4, 1),
                                      (F.PRODUCT, ctx.products["product_id"], 4, n_stores)):
        reference = pd.Categorical(np.tile(np.repeat(ids.to_numpy(), repeat), tile),
                                   categories=ids.to_numpy())
        assert history[column].cat.codes.dtype == reference.codes.dtype
        np.testing.assert_array_equal(history[column].cat.codes.to_numpy(), reference.codes)
