"""The defect ledger against what staging caught: every defect the generator recorded is
flagged (or removed, for duplicate delivery lines) exactly once, and nothing else is."""

from __future__ import annotations

from datetime import date

from retailops.validation.checks import Check, day_batches, days, rows, scalar
from retailops.validation.window import Window
from retailops.warehouse.engines import Warehouse


# Lines a piece of the staged delivery lines may hold (a day more is its own piece). DuckDB's
# grouping cost per line grows with the lines grouped together: a week at the year's end at
# scale 16 (~380K lines) cost 0.138 CPU-s grouped at once, 0.113 in two-day pieces and 0.083 a
# day at a time; at scale 1 (~25K lines a week) the week at once was cheapest (0.008 against
# 0.018 a day at a time: each branch is planned on its own).
PIECE_LINES = 50_000


def _pieces(batch: list[date], landed: dict[str, float | None]) -> list[tuple[date, date]]:
    """``batch`` (consecutive days) cut into runs of consecutive days holding at most
    PIECE_LINES landed lines together (a day above it alone)."""
    pieces: list[list] = []
    for day in batch:
        lines = landed.get(day.isoformat()) or 0.0
        if pieces and pieces[-1][2] + lines <= PIECE_LINES:
            pieces[-1][1], pieces[-1][2] = day, pieces[-1][2] + lines
        else:
            pieces.append([day, day, lines])
    return [(first, last) for first, last, _ in pieces]


def ledger_checks(warehouse: Warehouse, window: Window, batch_days: int = 31) -> list[Check]:
    stg = lambda name: warehouse.table("staging", name)  # noqa: E731
    a, b = window.first.isoformat(), window.last.isoformat()
    in_window = f"between '{a}' and '{b}'"
    q = lambda sql: scalar(warehouse, sql)  # noqa: E731
    # The fact ledger is one file per day: filtering on its partition column opens only the
    # window's files on both engines. The dimension ledger is one file, and `ledger =
    # 'dimensions'` lets the engine skip every fact file (a filter on defect_type alone
    # would read the whole history's ledger).
    def fact_ledger(alias: str = "") -> str:
        return (f"{alias}ledger = 'facts' and {alias}partition_dt {in_window} "
                f"and {alias}defect_date between date '{a}' and date '{b}'")

    def dimension_ledger(alias: str = "") -> str:
        return f"{alias}ledger = 'dimensions'"

    # Each ledger is read once for all its defect types: every query on the ledger lists its
    # files again (a year of them), which cost more than the counting.
    def ledger_counts(defects: tuple[str, ...], where: str) -> dict[str, float | None]:
        counts = ", ".join(f"count(case when defect_type = '{d}' then 1 end)" for d in defects)
        found = rows(warehouse, f"select {counts} from {stg('stg_defects')} where {where}")
        return dict(zip(defects, found[0]))

    counted = {**ledger_counts(("null_discount", "negative_on_hand", "duplicate_shipment_line"),
                               fact_ledger()),
               **ledger_counts(("missing_supplier", "messy_supplier_text"), dimension_ledger())}

    def ledger(defect: str) -> float | None:
        value = counted[defect]
        return None if value is None else float(value)

    # The window's flagged sale lines, read once for both of their checks (the week's sale
    # lines at scale 16 are ~5.6M: a scan each cost ~0.03 s of CPU).
    flagged_sales = [None if v is None else float(v) for v in rows(warehouse, f"""
        with flagged as (
            select sale_id from {stg('stg_sales')}
            where discount_was_missing and partition_dt {in_window}
        )
        select (select count(*) from flagged),
               (select count(*) from {stg('stg_defects')} d
                left join flagged s on d.record_key = cast(s.sale_id as varchar)
                where d.defect_type = 'null_discount' and {fact_ledger('d.')}
                  and s.sale_id is null)
    """)[0]]
    # The delivery lines landed per day (the manifests): their sum is the raw side, and they
    # size the pieces the staged lines are counted in.
    landed = {str(day): None if lines is None else float(lines) for day, lines in rows(
        warehouse, f"select partition_dt, sum(row_count) from {stg('stg_manifests')} "
                   f"where table_name = 'shipments' and partition_dt {in_window} "
                   f"group by partition_dt")}
    known = [lines for lines in landed.values() if lines is not None]
    raw_lines = sum(known) if known else None
    # Staging's duplicate removal groups every line of the days it reads (a line's group never
    # spans two days): a long window is counted ``batch_days`` at a time, and a batch in
    # pieces of consecutive days (``_pieces``), one ``union all`` branch each.
    staged_lines = None
    for batch in day_batches(days(window.first, window.last), batch_days):
        each = "\nunion all\n".join(
            f"select count(*) as lines from {stg('stg_shipments')} "
            f"where partition_dt between '{first.isoformat()}' and '{last.isoformat()}'"
            for first, last in _pieces(batch, landed))
        staged = q(f"select sum(lines) from ({each})")
        staged_lines = (staged_lines or 0.0) + (staged or 0.0)
    return [
        Check("sales: missing discounts flagged = ledger null_discount", ledger("null_discount"),
              flagged_sales[0], "every blank discount is in the defect ledger and flagged by "
              "staging"),
        Check("sales: ledger null_discount keys all flagged in staging", 0.0, flagged_sales[1],
              "ledger rows whose sale line staging did not flag"),
        Check("inventory: negative counts flagged = ledger negative_on_hand",
              ledger("negative_on_hand"),
              q(f"select count(*) from {stg('stg_inventory')} where is_negative_on_hand and "
                f"partition_dt {in_window}"),
              "every negative count is a recorded defect"),
        Check("shipments: raw lines - staged lines = ledger duplicates",
              ledger("duplicate_shipment_line"),
              None if raw_lines is None or staged_lines is None else raw_lines - staged_lines,
              "staging removes exactly the duplicated delivery lines"),
        Check("products: missing suppliers flagged = ledger missing_supplier",
              ledger("missing_supplier"),
              q(f"select count(*) from {stg('stg_products')} where is_missing_supplier"),
              "products exported without a supplier"),
        Check("suppliers: messy text flagged = ledger messy_supplier_text",
              ledger("messy_supplier_text"),
              q(f"select sum(case when is_messy_lead_time then 1 else 0 end) + "
                f"sum(case when is_messy_on_time_rate then 1 else 0 end) "
                f"from {stg('stg_suppliers')}"),
              "supplier fields in a non-canonical format"),
        Check("suppliers: parsed text matches the ledger's true values", 0.0,
              q(f"select count(*) from {stg('stg_defects')} d join {stg('stg_suppliers')} s "
                f"on d.record_key = s.supplier_id where d.defect_type = 'messy_supplier_text' "
                f"and {dimension_ledger('d.')} "
                f"and ((d.column_name = 'lead_time' "
                f"and cast(s.lead_time_days as varchar) <> d.true_value) or "
                f"(d.column_name = 'on_time_rate' "
                f"and abs(s.on_time_rate - cast(d.true_value as double)) > 0.005))"),
              "messy values staging parsed differently from what was meant"),
    ]
