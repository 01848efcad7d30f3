"""Reconciliation checks over a window of days.

Every check compares two numbers that must agree and says what explains the difference the
platform expects (duplicates removed, defects flagged). The SQL is plain ANSI so the same checks
run on DuckDB and Athena.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, datetime, timezone
from typing import Any, Callable

from retailops.warehouse.engines import Warehouse


@dataclass(frozen=True)
class Check:
    name: str
    expected: float
    actual: float
    explanation: str

    @property
    def ok(self) -> bool:
        return abs(self.expected - self.actual) < 1e-6 * max(1.0, abs(self.expected))

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


def _scalar(warehouse: Warehouse, sql: str) -> float:
    value = warehouse.query(sql).iloc[0, 0]
    return 0.0 if value is None or value != value else float(value)  # NULL/NaN -> 0


def reconcile(warehouse: Warehouse, first: date, last: date) -> list[Check]:
    """All checks for the days ``first..last``."""
    stg: Callable[[str], str] = lambda name: warehouse.table("staging", name)  # noqa: E731
    mart: Callable[[str], str] = lambda name: warehouse.table("marts", name)  # noqa: E731
    a, b = first.isoformat(), last.isoformat()
    in_window = f"between '{a}' and '{b}'"
    q = lambda sql: _scalar(warehouse, sql)  # noqa: E731

    def manifest_rows(table: str) -> float:
        return q(f"select sum(row_count) from {stg('stg_manifests')} "
                 f"where table_name = '{table}' and partition_dt {in_window}")

    def ledger(defect: str, window: bool = True) -> float:
        where = f" and defect_date between date '{a}' and date '{b}'" if window else ""
        return q(f"select count(*) from {stg('stg_defects')} where defect_type = '{defect}'{where}")

    checks: list[Check] = []
    add = lambda *args: checks.append(Check(*args))  # noqa: E731

    # --- freshness ---------------------------------------------------------------------------
    raw_sale_days = q(f"select count(*) from {stg('stg_manifests')} where table_name = 'sales' "
                      f"and partition_dt {in_window} and row_count > 0")
    mart_sale_days = q(f"select count(distinct sale_date) from {mart('fct_daily_sales')} "
                       f"where sale_date between date '{a}' and date '{b}'")
    add("freshness: every day with raw sales is in fct_daily_sales", raw_sale_days,
        mart_sale_days, "days with sale lines in the lake vs days present in the mart")
    last_day_raw = q(f"select sum(row_count) from {stg('stg_manifests')} "
                     f"where table_name = 'sales' and partition_dt = '{b}'")
    last_day_mart = q(f"select sum(transactions) from {mart('fct_daily_sales')} "
                      f"where sale_date = date '{b}'")
    add(f"freshness: run date {b} fully in fct_daily_sales", last_day_raw, last_day_mart,
        "sale lines landed for the last day vs transactions in the mart for it")

    # --- sales: every clean sale line counted once ----------------------------------------
    raw_sales = manifest_rows("sales")
    # Filtering staged facts on partition_dt lets DuckDB skip other days' files.
    staged_sales = q(f"select count(*) from {stg('stg_sales')} where partition_dt {in_window}")
    add("sales: raw lines = staged lines", raw_sales, staged_sales,
        "staging drops no sale line; defects are flagged, not removed")
    add("sales: staged lines = mart transactions", staged_sales,
        q(f"select sum(transactions) from {mart('fct_daily_sales')} "
          f"where sale_date between date '{a}' and date '{b}'"),
        "each sale line counts once in fct_daily_sales")
    add("sales: staged units = mart units",
        q(f"select sum(quantity) from {stg('stg_sales')} where partition_dt {in_window}"),
        q(f"select sum(quantity) from {mart('fct_daily_sales')} "
          f"where sale_date between date '{a}' and date '{b}'"),
        "units sold are neither lost nor double counted")
    add("sales: missing discounts flagged = ledger null_discount", ledger("null_discount"),
        q(f"select count(*) from {stg('stg_sales')} where discount_was_missing and "
          f"partition_dt {in_window}"),
        "every blank discount is in the defect ledger and flagged by staging")
    add("sales: ledger null_discount keys all flagged in staging", 0.0,
        q(f"select count(*) from {stg('stg_defects')} d left join {stg('stg_sales')} s "
          f"on d.record_key = cast(s.sale_id as varchar) and s.discount_was_missing "
          f"and s.partition_dt {in_window} where d.defect_type = 'null_discount' and d.defect_date between date '{a}' "
          f"and date '{b}' and s.sale_id is null"),
        "ledger rows whose sale line staging did not flag")

    # --- inventory: negative counts flagged, not dropped --------------------------------------
    raw_counts = manifest_rows("inventory")
    staged_counts = q(f"select count(*) from {stg('stg_inventory')} where partition_dt {in_window}")
    add("inventory: raw counts = staged counts", raw_counts, staged_counts,
        "negative counts are flagged and kept")
    add("inventory: staged counts = fct_inventory_snapshots rows", staged_counts,
        q(f"select count(*) from {mart('fct_inventory_snapshots')} where snapshot_date "
          f"between date '{a}' and date '{b}'"), "one mart row per count")
    add("inventory: negative counts flagged = ledger negative_on_hand",
        ledger("negative_on_hand"),
        q(f"select count(*) from {stg('stg_inventory')} where is_negative_on_hand and "
          f"partition_dt {in_window}"),
        "every negative count is a recorded defect")

    # --- shipments: duplicates removed, exactly the ledger's ----------------------------------
    raw_lines = manifest_rows("shipments")
    staged_lines = q(f"select count(*) from {stg('stg_shipments')} where partition_dt {in_window}")
    add("shipments: raw lines - staged lines = ledger duplicates",
        ledger("duplicate_shipment_line"), raw_lines - staged_lines,
        "staging removes exactly the duplicated delivery lines")

    # --- dimensions -------------------------------------------------------------------------
    add("products: missing suppliers flagged = ledger missing_supplier",
        ledger("missing_supplier", window=False),
        q(f"select count(*) from {stg('stg_products')} where is_missing_supplier"),
        "products exported without a supplier")
    add("suppliers: messy text flagged = ledger messy_supplier_text",
        ledger("messy_supplier_text", window=False),
        q(f"select sum(case when is_messy_lead_time then 1 else 0 end) + "
          f"sum(case when is_messy_on_time_rate then 1 else 0 end) from {stg('stg_suppliers')}"),
        "supplier fields in a non-canonical format")
    add("suppliers: parsed text matches the ledger's true values", 0.0,
        q(f"select count(*) from {stg('stg_defects')} d join {stg('stg_suppliers')} s "
          f"on d.record_key = s.supplier_id where d.defect_type = 'messy_supplier_text' and ("
          f"(d.column_name = 'lead_time' and cast(s.lead_time_days as varchar) <> d.true_value) or "
          f"(d.column_name = 'on_time_rate' and abs(s.on_time_rate - cast(d.true_value as double))"
          f" > 0.005))"),
        "messy values staging parsed differently from what was meant")
    return checks


def run_report(checks: list[Check], build_summary: dict[str, Any], first: date, last: date,
               engine: str) -> dict[str, Any]:
    """The run report: window, checks, dbt test summary and an overall verdict."""
    failed = [c.name for c in checks if not c.ok]
    return {
        "window": {"first": first.isoformat(), "last": last.isoformat()},
        "engine": engine,
        "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "ok": not failed and build_summary.get("success", False),
        "failed_checks": failed,
        "checks": [c.to_dict() for c in checks],
        "dbt": {k: build_summary.get(k) for k in (
            "success", "models_built", "tests_passed", "tests_warned", "failed_tests",
            "failed_models", "seconds", "finished_at")},
    }
