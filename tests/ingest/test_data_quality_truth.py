"""What the raw files say agrees with the simulation's own books: stock is conserved between
clean counts, and the defect ledger lists exactly the defects present in the files."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import pytest

from retailops.lake.storage import Lake

from .helpers import ingest


@pytest.fixture(scope="module")
def five_weeks(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("five-weeks") / "lake"
    # Higher defect rates so every kind shows up many times in a small chain.
    ingest(Lake(str(root)), "2024-07-01", "2024-08-04", scale=0.1, simulation={
        "review_period_days": 10,
        "defect_rates": {"duplicate_shipment_line": 0.03, "negative_on_hand": 0.02,
                         "null_discount": 0.01, "missing_supplier": 0.05,
                         "messy_supplier_text": 0.5}})
    return root


def _read(root: Path, table: str) -> pd.DataFrame:
    return duckdb.sql(
        f"select * from read_csv('{root}/raw/{table}/*/{table}.csv', all_varchar=true, "
        f"hive_partitioning=false)").df()


def _ledger(root: Path) -> pd.DataFrame:
    return duckdb.sql(f"select * from read_csv('{root}/metadata/defects/*/defects.csv', "
                      f"all_varchar=true, hive_partitioning=false)").df()


NOTHING = pd.Series([], index=pd.Index([], dtype=object), dtype=int)


def test_stock_is_conserved_between_clean_counts(five_weeks):
    sales = _read(five_weeks, "sales").astype({"quantity": int})
    shipments = _read(five_weeks, "shipments").drop_duplicates()
    shipments = shipments.astype({"quantity_received": int})
    counts = _read(five_weeks, "inventory").astype({"quantity_on_hand": int})
    ledger = _ledger(five_weeks)
    bad = set(ledger.loc[ledger.defect_type == "negative_on_hand", "record_key"])
    counts["key"] = counts.snapshot_date + "|" + counts.store_id + "|" + counts.product_id
    counts["clean"] = ~counts.key.isin(bad)
    counts = counts.sort_values(["store_id", "product_id", "snapshot_date"])

    sold = sales.groupby(["store_id", "product_id", "dt"])["quantity"].sum()
    received = shipments.groupby(["store_id", "product_id", "received_date"])["quantity_received"].sum()
    sold_by_cell = {k: g.droplevel([0, 1]) for k, g in sold.groupby(level=[0, 1])}
    recv_by_cell = {k: g.droplevel([0, 1]) for k, g in received.groupby(level=[0, 1])}

    checked = 0
    for (store, product), cell in counts.groupby(["store_id", "product_id"]):
        rows = cell.to_dict("records")
        for before, after in zip(rows, rows[1:]):
            if not (before["clean"] and after["clean"]):
                continue
            t1, t2 = before["snapshot_date"], after["snapshot_date"]
            s = sold_by_cell.get((store, product), NOTHING)
            r = recv_by_cell.get((store, product), NOTHING)
            out = int(s[(s.index > t1) & (s.index <= t2)].sum())
            into = int(r[(r.index > t1) & (r.index <= t2)].sum())
            assert after["quantity_on_hand"] == before["quantity_on_hand"] - out + into, (
                store, product, t1, t2)
            checked += 1
    assert checked > 1000, "the five weeks should give many pairs of clean counts"


def test_defect_ledger_matches_the_defects_in_the_files(five_weeks):
    ledger = _ledger(five_weeks)
    kinds = ledger.groupby("defect_type").size()

    sales = _read(five_weeks, "sales")
    blank = set(sales.loc[sales.discount_pct.isna(), "sale_id"])
    assert blank == set(ledger.loc[ledger.defect_type == "null_discount", "record_key"])

    inventory = _read(five_weeks, "inventory")
    negative = inventory[inventory.quantity_on_hand.astype(int) < 0]
    keys = set(negative.snapshot_date + "|" + negative.store_id + "|" + negative.product_id)
    assert keys == set(ledger.loc[ledger.defect_type == "negative_on_hand", "record_key"])

    shipments = _read(five_weeks, "shipments")
    doubled = shipments[shipments.duplicated(keep="first")]
    keys = list(doubled.shipment_id + "|" + doubled.line_number)
    assert sorted(keys) == sorted(ledger.loc[ledger.defect_type == "duplicate_shipment_line",
                                             "record_key"])
    assert not shipments.drop_duplicates().duplicated(["shipment_id", "line_number"]).any()
    assert min(kinds.get(k, 0) for k in ("null_discount", "negative_on_hand",
                                         "duplicate_shipment_line")) > 5


def test_dimension_defects_match_the_dimension_files(five_weeks):
    ledger = pd.read_csv(five_weeks / "metadata/defects/dimensions/defects.csv", dtype=str)
    products = pd.read_csv(five_weeks / "raw/products/products.csv", dtype=str)
    assert set(products.loc[products.supplier_id.isna(), "product_id"]) == set(
        ledger.loc[ledger.defect_type == "missing_supplier", "record_key"])
    suppliers = pd.read_csv(five_weeks / "raw/suppliers/suppliers.csv", dtype=str,
                            keep_default_na=False)
    canonical_lead = suppliers.lead_time.str.fullmatch(r"\d+ days")
    canonical_rate = suppliers.on_time_rate.str.fullmatch(r"\d+%")
    messy = set(suppliers.loc[~canonical_lead, "supplier_id"] + "|lead_time") | set(
        suppliers.loc[~canonical_rate, "supplier_id"] + "|on_time_rate")
    recorded = ledger[ledger.defect_type == "messy_supplier_text"]
    assert messy == set(recorded.record_key + "|" + recorded.column_name)
    assert len(messy) > 0
