"""On AWS the forecast reads the curated Parquet on S3 (``ParquetMarts``): its history must be the
one the DuckDB reader gives, through the same integer-id path (``read_keyed``: store and product
codes numbering the dimensions' sorted ids, the day's offset; no text id per row), with the same
rows left out (ids not in the dimensions, NULL ids, days outside the window, stores outside a
block). Read from moto's S3 server."""

from __future__ import annotations

import io
from datetime import date

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from retailops.forecast.data import (ParquetMarts, WarehouseMarts, load_context,
                                     load_history)
from retailops.lake.storage import Lake
from retailops.warehouse.engines import DuckDBWarehouse
from tests.forecast.test_data_keyed_read import FIRST, LAST, TextIds, marts

BUCKET = "keyed-lake"


def upload(duckdb_path, s3, bucket: str) -> None:
    """The marts as the curated Parquet layout: dimensions whole, facts one file a day."""
    con = duckdb.connect(str(duckdb_path), read_only=True)

    def put(key: str, frame: pd.DataFrame) -> None:
        buffer = io.BytesIO()
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), buffer)
        s3.put_object(Bucket=bucket, Key=key, Body=buffer.getvalue())

    for dim in ("dim_stores", "dim_products"):
        put(f"curated/{dim}/{dim}.parquet", con.execute(f"select * from marts.{dim}").df())
    for fact, day_column in (("fct_daily_sales", "sale_date"),
                             ("fct_inventory_snapshots", "snapshot_date")):
        rows = con.execute(f"select * from marts.{fact}").df()
        for day, part in rows.groupby(day_column):
            put(f"curated/{fact}/{day_column}={pd.Timestamp(day).date()}/data_0.parquet",
                part.drop(columns=[day_column]))
    con.close()


def test_parquet_on_s3_reads_the_history_of_the_duckdb_reader_with_integer_ids(tmp_path,
                                                                               aws_env):
    import boto3

    marts(tmp_path / "w.duckdb")
    warehouse = WarehouseMarts(DuckDBWarehouse(str(tmp_path / "w.duckdb")))
    s3 = boto3.client("s3", endpoint_url=aws_env["AWS_ENDPOINT_URL"])
    s3.create_bucket(Bucket=BUCKET)
    upload(tmp_path / "w.duckdb", s3, BUCKET)
    remote = ParquetMarts(Lake(f"s3://{BUCKET}", {"client_kwargs": {
        "endpoint_url": aws_env["AWS_ENDPOINT_URL"]}}))

    # The integer-id read: the same codes, ids and rows as DuckDB's, no text column.
    for fact, columns, day_column in (
            ("fct_daily_sales", ("quantity", "gross_revenue", "discount_amount"), "sale_date"),
            ("fct_inventory_snapshots", ("quantity_on_hand",), "snapshot_date")):
        for stores in (None, ["S10", "S2"]):
            got, got_stores, got_products = remote.read_keyed(fact, columns, day_column, FIRST,
                                                              LAST, stores=stores)
            want, want_stores, want_products = warehouse.read_keyed(fact, columns, day_column,
                                                                    FIRST, LAST, stores=stores)
            assert got_stores.tolist() == want_stores.tolist() == ["S1", "S10", "S2"]
            assert got_products.tolist() == want_products.tolist() == ["P1", "P20", "P3"]
            assert all(str(t) != "object" for t in got.dtypes)
            key = ["store_code", "product_code", "day_index"]
            pd.testing.assert_frame_equal(
                got.sort_values(key).reset_index(drop=True),
                want.sort_values(key).reset_index(drop=True))
            assert len(want) > 0
    # S9, P99, the NULL store and the days outside the window are left out by both.
    sales, _, _ = remote.read_keyed("fct_daily_sales", ("quantity",), "sale_date", FIRST, LAST)
    assert sorted(sales["quantity"].tolist()) == [1, 2, 4, 9]

    # The history: the DuckDB reader's, the text-id path's, for the chain and for a block.
    context = load_context(remote)
    pd.testing.assert_frame_equal(context.stores, load_context(warehouse).stores)
    for stores in (None, ["S2"], ["S1", "S10"]):
        history = load_history(remote, FIRST, LAST, context, stores=stores)
        pd.testing.assert_frame_equal(history, load_history(warehouse, FIRST, LAST, context,
                                                            stores=stores))
        pd.testing.assert_frame_equal(history, load_history(TextIds(remote), FIRST, LAST,
                                                            context, stores=stores))
    block = load_history(remote, FIRST, LAST, context, stores=["S2"])
    assert block["store_id"].astype(str).unique().tolist() == ["S2"]
    assert np.isclose(block["units"].sum(), 1 + 4)
