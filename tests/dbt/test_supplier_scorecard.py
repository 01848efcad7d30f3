"""The supplier scorecard without a rescan of every delivery line each day: a daily run rebuilds
only its days' rows of ``stg_deliveries`` (one row per delivery and shipments partition) and
``mart_supplier_performance`` combines those rows, which gives what a clean full build gives."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import duckdb
import pandas as pd

from test_rebuilds import (  # noqa: F401 (private_dbt_target: autouse fixture)
    assert_same_frames,
    full_build,
    private_dbt_target,
    reland,
    transform,
)

# Deliveries arrive from the third day on (lead times): day 4 is the untouched older day.
RUN_DATE, OLD_DAY, RELANDED_DAY = "2024-07-05", "2024-07-04", "2024-07-03"


def _query(warehouse: Path, sql: str) -> pd.DataFrame:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(sql).df()


def _sql(warehouse: Path, sql: str) -> None:
    with duckdb.connect(str(warehouse)) as con:
        con.execute(sql)


def _a_line_to_drop(lake: Path, day: str) -> tuple[str, str]:
    """The last line of a delivery of ``day`` with several lines, none of them duplicated
    (dropping it leaves the defect ledger's duplicate lines in place)."""
    rows = list(csv.DictReader(io.StringIO(
        (lake / "raw" / "shipments" / f"dt={day}" / "shipments.csv").read_text())))
    seen: dict[str, list[tuple]] = {}
    for row in rows:
        seen.setdefault(row["shipment_id"], []).append(tuple(row.values()))
    shipment = next(s for s, lines in seen.items() if len(lines) == len(set(lines)) > 1)
    return shipment, max((r["line_number"] for r in rows if r["shipment_id"] == shipment), key=int)


def test_a_daily_run_rebuilds_only_its_days_and_the_scorecard_equals_a_full_build(
        module_lake: Path, tmp_path) -> None:
    lake, warehouse = module_lake, tmp_path / "warehouse" / "retailops.duckdb"
    assert transform(lake, warehouse, None)["success"]
    scorecard = "select * from marts.mart_supplier_performance order by supplier_id"
    deliveries = "select * from staging.stg_deliveries order by dt, supplier_id, shipment_id"

    # A mark on an older day's rows: a daily run that recomputed every day would erase it.
    _sql(warehouse, f"update staging.stg_deliveries set lines = lines + 1000 "
                    f"where dt = '{OLD_DAY}'")
    shipment, line = _a_line_to_drop(lake, RELANDED_DAY)
    lines_of = (f"select lines from staging.stg_deliveries where dt = '{RELANDED_DAY}' "
                f"and shipment_id = {shipment}")
    before = _query(warehouse, lines_of)["lines"][0]
    reland(lake, "shipments", RELANDED_DAY,
           lambda i, row: (row["shipment_id"], row["line_number"]) != (shipment, line))
    summary = transform(lake, warehouse, RUN_DATE)
    assert summary["success"] and summary["selector"] == "daily"
    assert summary["rebuild_days"] == [RELANDED_DAY, RUN_DATE]
    marked = _query(warehouse, f"select min(lines) as fewest from staging.stg_deliveries "
                               f"where dt = '{OLD_DAY}'")
    assert marked["fewest"][0] > 1000  # the old day was not read again
    assert _query(warehouse, lines_of)["lines"][0] == before - 1  # the re-landed day was read again

    # Without the mark, the next daily run's scorecard is a clean full build's.
    _sql(warehouse, f"update staging.stg_deliveries set lines = lines - 1000 "
                    f"where dt = '{OLD_DAY}'")
    assert transform(lake, warehouse, RUN_DATE)["success"]
    clean = tmp_path / "clean"
    expected_marts, _ = full_build(lake, clean)
    clean_warehouse = clean / "clean_warehouse" / "retailops.duckdb"
    got = _query(warehouse, scorecard)
    assert_same_frames({"scorecard": got[sorted(got.columns)]},
                       {"scorecard": _query(clean_warehouse, scorecard)[sorted(got.columns)]})
    assert_same_frames({"deliveries": _query(warehouse, deliveries)},
                       {"deliveries": _query(clean_warehouse, deliveries)})
    # And the scorecard still counts what the lines give, delivery by delivery.
    lines = _query(warehouse, "select supplier_id, count(distinct shipment_id) as shipments, "
                              "cast(count(*) as bigint) as lines from staging.stg_shipments "
                              "group by 1 order by 1")
    assert lines.set_index("supplier_id")["shipments"].to_dict() == \
        got.set_index("supplier_id")["shipments"][lambda s: s > 0].to_dict()
    assert lines.set_index("supplier_id")["lines"].to_dict() == \
        got.set_index("supplier_id")["lines"][lambda s: s > 0].to_dict()
    assert len(expected_marts["mart_supplier_performance"]) == len(got)


def test_a_delivery_in_two_partitions_counts_once_with_its_rows_combined(
        module_lake: Path, tmp_path) -> None:
    """A delivery whose rows sit in two partitions (lines received on two days: a re-landed or
    edited partition can make one) is one delivery of the scorecard, its figures combined, and
    the deliveries in one partition are counted as they are; the expected scorecard is worked
    out here from stg_deliveries' rows with pandas."""
    lake, warehouse = module_lake, tmp_path / "warehouse" / "retailops.duckdb"
    assert transform(lake, warehouse, None)["success"]
    rows = _query(warehouse, f"select * from staging.stg_deliveries where dt = '{RELANDED_DAY}' "
                             "order by supplier_id, shipment_id limit 1")
    supplier, shipment = rows["supplier_id"][0], int(rows["shipment_id"][0])
    # The same delivery again in another partition, ordered earlier, due and received later:
    # combined, its order date is the earlier one and it arrives late.
    _sql(warehouse, f"insert into staging.stg_deliveries select supplier_id, shipment_id, "
                    f"order_date - 3, received_date + 5, received_date + 9, lines + 2, "
                    f"units_ordered + 10, units_received + 7, 1, '{OLD_DAY}' "
                    f"from staging.stg_deliveries where dt = '{RELANDED_DAY}' "
                    f"and supplier_id = '{supplier}' and shipment_id = {shipment}")
    assert transform(lake, warehouse, RUN_DATE)["success"]  # rebuilds the scorecard only

    parts = _query(warehouse, "select * from staging.stg_deliveries")
    assert len(parts[(parts.supplier_id == supplier) & (parts.shipment_id == shipment)]) == 2
    deliveries = parts.groupby(["supplier_id", "shipment_id"]).agg(
        order_date=("order_date", "min"), expected_date=("expected_date", "max"),
        received_date=("received_date", "max"), lines=("lines", "sum"),
        units_ordered=("units_ordered", "sum"), units_received=("units_received", "sum"),
        duplicates=("duplicate_lines_removed", "sum")).reset_index()
    late = deliveries.received_date > deliveries.expected_date
    lead = (pd.to_datetime(deliveries.received_date) - pd.to_datetime(deliveries.order_date)).dt.days
    expected = deliveries.assign(late=late.astype(int), on_time=(~late).astype(int),
                                 lead=lead.astype(float)).groupby("supplier_id").agg(
        shipments=("shipment_id", "size"), lines=("lines", "sum"),
        units_ordered=("units_ordered", "sum"), units_received=("units_received", "sum"),
        on_time_shipments=("on_time", "sum"), late_shipments=("late", "sum"),
        avg_lead_time_days=("lead", "mean"), duplicate_lines_removed=("duplicates", "sum"))
    got = _query(warehouse, "select * from marts.mart_supplier_performance "
                            "where shipments > 0").set_index("supplier_id")
    columns = list(expected.columns)
    pd.testing.assert_frame_equal(got.loc[expected.index, columns].astype(float),
                                  expected[columns].astype(float), check_exact=False,
                                  rtol=1e-12, check_names=False)
    # The spread delivery: once, late, with both rows' lines.
    one = deliveries[(deliveries.supplier_id == supplier) & (deliveries.shipment_id == shipment)]
    assert len(one) == 1 and bool(late[one.index[0]])
