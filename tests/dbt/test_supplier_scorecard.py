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
