"""The history read with integer ids (``WarehouseMarts.read_keyed``) is the history read with
text ids, cell for cell, on a real DuckDB file: ids the dimensions do not know, NULL ids and
days outside the window are left out, and the warehouse's id order (text, ``S10`` before
``S2``) is mapped onto the context's."""

from __future__ import annotations

from datetime import date

import duckdb
import numpy as np
import pandas as pd

from retailops.forecast import frames as F
from retailops.forecast.data import WarehouseMarts, load_context, load_history
from retailops.warehouse.engines import DuckDBWarehouse

FIRST, LAST = date(2025, 3, 1), date(2025, 3, 6)


def marts(path) -> None:
    con = duckdb.connect(str(path))
    con.execute("create schema marts")
    con.execute("""create table marts.dim_stores as select * from (values
        ('S2', 'a', 'n', 1, 100.0), ('S10', 'b', 's', 2, 200.0), ('S1', 'a', 's', 1, 150.0))
        as t(store_id, store_type, region, store_cluster, size_sqft)""")
    con.execute("""create table marts.dim_products as select * from (values
        ('P3', 'a', 'a1', 1.25, true), ('P1', 'a', 'a2', 2.0, false),
        ('P20', 'b', 'b1', 3.5, true)) as t(product_id, category, subcategory, list_price,
        is_perishable)""")
    con.execute("""create table marts.fct_daily_sales as select store_id, product_id,
        quantity::bigint as quantity, gross_revenue::double as gross_revenue,
        discount_amount::double as discount_amount, sale_date::date as sale_date from (values
        ('S10', 'P20', 2, 7.0, 0.7, '2025-03-02'), ('S2', 'P1', 1, 2.0, 0.0, '2025-03-06'),
        ('S9', 'P1', 7, 14.0, 0.0, '2025-03-03'), ('S2', 'P3', 4, 5.0, 1.0, '2025-03-01'),
        ('S1', 'P1', 5, 10.0, 0.0, '2025-03-09'), (NULL, 'P1', 6, 12.0, 0.0, '2025-03-04'),
        ('S1', 'P99', 3, 3.0, 0.0, '2025-03-04'), ('S1', 'P20', 9, 31.5, 3.15, '2025-03-05'),
        ('S10', 'P3', 1, 1.25, 0.0, '2025-02-28'))
        as t(store_id, product_id, quantity, gross_revenue, discount_amount, sale_date)""")
    con.execute("""create table marts.fct_inventory_snapshots as select store_id, product_id,
        quantity_on_hand::integer as quantity_on_hand, snapshot_date::date as snapshot_date
        from (values ('S2', 'P3', 0, '2025-03-05'), ('S10', 'P20', 12, '2025-03-02'),
        ('S7', 'P20', 3, '2025-03-02'), ('S1', 'P1', 4, '2025-03-07'))
        as t(store_id, product_id, quantity_on_hand, snapshot_date)""")
    con.close()


class TextIds:
    """The same marts read with text ids (no ``read_keyed``): load_history's other path."""

    def __init__(self, reader: WarehouseMarts):
        self.reader = reader

    def read(self, *args, **kwargs):
        return self.reader.read(*args, **kwargs)

    def sales_days(self):
        return self.reader.sales_days()


def test_the_history_read_with_integer_ids_is_the_one_read_with_text_ids(tmp_path):
    marts(tmp_path / "w.duckdb")
    reader = WarehouseMarts(DuckDBWarehouse(str(tmp_path / "w.duckdb")))
    context = load_context(reader)
    keyed = load_history(reader, FIRST, LAST, context)
    pd.testing.assert_frame_equal(keyed, load_history(TextIds(reader), FIRST, LAST, context))

    # And cell by cell against the rows, densified here with pandas.
    assert context.stores["store_id"].tolist() == ["S1", "S10", "S2"]
    cells = pd.MultiIndex.from_product(
        [["S1", "S10", "S2"], ["P1", "P20", "P3"], pd.date_range(FIRST, LAST)],
        names=[F.STORE, F.PRODUCT, F.DATE]).to_frame(index=False)
    assert keyed[F.STORE].astype(str).tolist() == cells[F.STORE].tolist()
    assert keyed[F.PRODUCT].astype(str).tolist() == cells[F.PRODUCT].tolist()
    units = pd.Series(0.0, index=pd.MultiIndex.from_frame(cells))
    units[("S10", "P20", pd.Timestamp("2025-03-02"))] = 2
    units[("S2", "P1", pd.Timestamp("2025-03-06"))] = 1
    units[("S2", "P3", pd.Timestamp("2025-03-01"))] = 4
    units[("S1", "P20", pd.Timestamp("2025-03-05"))] = 9
    np.testing.assert_array_equal(keyed[F.UNITS].to_numpy(), units.to_numpy(np.float32))
    on_hand = keyed.set_index([F.STORE, F.PRODUCT, F.DATE])[F.ON_HAND].dropna()
    assert on_hand.to_dict() == {("S10", "P20", pd.Timestamp("2025-03-02")): 12.0,
                                 ("S2", "P3", pd.Timestamp("2025-03-05")): 0.0}
    discount = keyed.set_index([F.STORE, F.PRODUCT, F.DATE])[F.DISCOUNT]
    assert discount[("S1", "P20", pd.Timestamp("2025-03-05"))] == np.float32(3.15 / 31.5)


def test_read_keyed_numbers_the_dimension_ids_in_their_sorted_order(tmp_path):
    marts(tmp_path / "w.duckdb")
    reader = WarehouseMarts(DuckDBWarehouse(str(tmp_path / "w.duckdb")))
    rows, stores, products = reader.read_keyed("fct_daily_sales", ("quantity",), "sale_date",
                                               FIRST, LAST)
    assert stores.tolist() == ["S1", "S10", "S2"] and products.tolist() == ["P1", "P20", "P3"]
    got = sorted(zip(stores[rows["store_code"]], products[rows["product_code"]],
                     rows["day_index"], rows["quantity"]))
    # S9, P99, the NULL store and the days outside the window are not there.
    assert got == [("S1", "P20", 4, 9), ("S10", "P20", 1, 2), ("S2", "P1", 5, 1),
                   ("S2", "P3", 0, 4)]
    assert all(str(t) != "object" for t in rows.dtypes)
