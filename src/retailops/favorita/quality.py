"""Data-quality checks over the staged download, each named and counted.

A check is a query for the offending rows. It passes when there are none; otherwise the report
names it, counts the rows and shows a few. A check whose table is missing is ``skipped`` (and
says which file), so one absent file never hides the results of the others. ``warn`` checks
describe known quirks the cleaning handles (the empty oil prices on holidays); ``error`` checks
describe data that would make the mart wrong.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import duckdb
import pandas as pd

from retailops.favorita.duck import parquet_scan
from retailops.favorita.profiling import quote_ident
from retailops.favorita.tables import TABLES

QUALITY_COLUMNS = [
    "check",
    "table",
    "kind",
    "severity",
    "status",
    "failing_rows",
    "checked_rows",
    "sample",
    "description",
]

HOLIDAY_TYPES = ("Holiday", "Transfer", "Additional", "Bridge", "Work Day", "Event")
HOLIDAY_LOCALES = ("National", "Regional", "Local")
STORE_TYPES = ("A", "B", "C", "D", "E")


@dataclass(frozen=True)
class Check:
    """One named rule: ``failing_sql`` selects the rows that break it."""

    name: str
    tables: tuple[str, ...]
    kind: str
    description: str
    failing_sql: str
    severity: str = "error"
    # For checks that group a table by its key: a column whose value ranges split the grouping
    # into passes. ``failing_sql`` then holds ``{part}`` where a pass's range condition goes.
    split_column: str | None = None


# A check that groups a table by its key runs in passes when the table has more rows than this:
# a pass groups only the rows in one range of the split column (about this many), so its hash
# table fits in memory instead of spilling the whole 125M-row key set to disk. Exact all the
# same: equal keys share the split column's value, so they fall in the same pass. Where the
# file is sorted by that column (train and test by id and date), Parquet's row-group min/max
# lets each pass read only its own row groups.
GROUP_PASS_ROWS = 8_000_000
PART = "{part}"


def build_checks(params: dict) -> list[Check]:
    """Every check, parameterised by the expected date ranges and value limits."""
    checks: list[Check] = []
    for spec in TABLES.values():
        key = ", ".join(quote_ident(c) for c in spec.primary_key)
        checks.append(
            Check(
                f"{spec.name}.primary_key_unique",
                (spec.name,),
                "primary_key",
                f"({', '.join(spec.primary_key)}) identifies one row",
                f"SELECT {key}, count(*) AS copies FROM {spec.name} WHERE {PART} GROUP BY ALL HAVING count(*) > 1",
                split_column=spec.primary_key[0],
            )
        )
    for table in ("train", "test"):
        checks.append(
            Check(
                f"{table}.date_store_item_unique",
                (table,),
                "primary_key",
                "one row per (date, store_nbr, item_nbr)",
                f"SELECT date, store_nbr, item_nbr, count(*) AS copies FROM {table} "
                f"WHERE {PART} GROUP BY ALL HAVING count(*) > 1",
                split_column="date",
            )
        )
    nullable = {("train", "onpromotion"), ("test", "onpromotion"), ("oil", "dcoilwtico")}
    for spec in TABLES.values():
        for column in spec.columns:
            if (spec.name, column) in nullable:
                continue
            checks.append(
                Check(
                    f"{spec.name}.{column}_not_null",
                    (spec.name,),
                    "not_null",
                    f"{column} is never empty",
                    f"SELECT * FROM {spec.name} WHERE {quote_ident(column)} IS NULL",
                )
            )
    checks.append(
        Check(
            "oil.dcoilwtico_not_null",
            ("oil",),
            "not_null",
            "oil price present on every listed day (empty on some holidays: filled by cleaning)",
            "SELECT * FROM oil WHERE dcoilwtico IS NULL",
            severity="warn",
        )
    )
    for child in ("train", "test", "transactions"):
        checks.append(_foreign_key(child, "store_nbr", "stores"))
    for child in ("train", "test"):
        checks.append(_foreign_key(child, "item_nbr", "items"))

    limits = params.get("limits", {}) or {}
    max_abs_units = float(limits.get("max_abs_unit_sales", 100_000))
    checks += [
        Check(
            "train.unit_sales_in_range",
            ("train",),
            "range",
            f"|unit_sales| <= {max_abs_units:g} (negative = return)",
            f"SELECT * FROM train WHERE abs(unit_sales) > {max_abs_units}",
        ),
        Check(
            "items.perishable_is_flag",
            ("items",),
            "range",
            "perishable is 0 or 1",
            "SELECT * FROM items WHERE perishable NOT IN (0, 1)",
        ),
        Check(
            "stores.type_known",
            ("stores",),
            "range",
            f"type is one of {', '.join(STORE_TYPES)}",
            f"SELECT * FROM stores WHERE type NOT IN {STORE_TYPES}",
        ),
        Check(
            "stores.cluster_positive",
            ("stores",),
            "range",
            "cluster >= 1",
            "SELECT * FROM stores WHERE cluster < 1",
        ),
        Check(
            "transactions.transactions_positive",
            ("transactions",),
            "range",
            "transactions > 0 (a store-day with no customers has no row)",
            "SELECT * FROM transactions WHERE transactions <= 0",
        ),
        Check(
            "oil.dcoilwtico_positive",
            ("oil",),
            "range",
            "oil price > 0",
            "SELECT * FROM oil WHERE dcoilwtico <= 0",
        ),
        Check(
            "holidays_events.type_known",
            ("holidays_events",),
            "range",
            f"type is one of {', '.join(HOLIDAY_TYPES)}",
            f"SELECT * FROM holidays_events WHERE type NOT IN {HOLIDAY_TYPES}",
        ),
        Check(
            "holidays_events.locale_known",
            ("holidays_events",),
            "range",
            f"locale is one of {', '.join(HOLIDAY_LOCALES)}",
            f"SELECT * FROM holidays_events WHERE locale NOT IN {HOLIDAY_LOCALES}",
        ),
    ]
    promo_from = _date(params.get("calendar", {}).get("promotion_recorded_from", "2014-04-01"))
    checks.append(
        Check(
            "train.onpromotion_recorded_from",
            ("train",),
            "not_null",
            f"onpromotion is filled from {promo_from} on (empty before: not recorded)",
            f"SELECT * FROM train WHERE onpromotion IS NULL AND date >= DATE '{promo_from}'",
        )
    )
    for table, window in (params.get("expected_dates", {}) or {}).items():
        start, end = _date(window["start"]), _date(window["end"])
        checks.append(
            Check(
                f"{table}.date_in_range",
                (table,),
                "date_range",
                f"date between {start} and {end}",
                f"SELECT * FROM {table} WHERE date < DATE '{start}' OR date > DATE '{end}'",
            )
        )
    # Daily transaction counts against the sales they should accompany. Warnings: the real
    # files disagree on a few store-days (openings, closures), which is worth seeing, not fatal.
    train_store_days = "(SELECT DISTINCT date, store_nbr FROM train)"
    checks += [
        Check(
            "transactions.store_day_has_sales",
            ("transactions", "train"),
            "consistency",
            "every store-day with a transaction count has sales in train",
            f"SELECT t.* FROM transactions AS t ANTI JOIN {train_store_days} AS s "
            "ON s.date = t.date AND s.store_nbr = t.store_nbr "
            "WHERE t.date <= (SELECT max(date) FROM train)",
            severity="warn",
        ),
        Check(
            "train.store_day_has_transactions",
            ("train", "transactions"),
            "consistency",
            "every store-day with sales has a transaction count",
            f"SELECT s.* FROM {train_store_days} AS s ANTI JOIN transactions AS t "
            "ON s.date = t.date AND s.store_nbr = t.store_nbr",
            severity="warn",
        ),
    ]
    checks.append(
        Check(
            "test.after_train",
            ("train", "test"),
            "date_range",
            "every test date is after the last train date",
            "SELECT * FROM test WHERE date <= (SELECT max(date) FROM train)",
        )
    )
    return checks


def _foreign_key(child: str, column: str, parent: str) -> Check:
    return Check(
        f"{child}.{column}_in_{parent}",
        (child, parent),
        "foreign_key",
        f"every {child}.{column} exists in {parent}",
        # NOT EXISTS, not NOT IN: one NULL key in the parent would make NOT IN match nothing.
        f"SELECT c.{column}, count(*) AS orphan_rows FROM {child} AS c "
        f"WHERE c.{column} IS NOT NULL AND NOT EXISTS "
        f"(SELECT 1 FROM {parent} AS p WHERE p.{column} = c.{column}) GROUP BY c.{column}",
    )


def _date(value: object) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def run_checks(
    con: duckdb.DuckDBPyConnection, staged: dict[str, str], checks: list[Check], sample_size: int = 5
) -> pd.DataFrame:
    """Run every check over the staged tables; one result row per check."""
    for table, path in staged.items():
        con.execute(f"CREATE OR REPLACE VIEW {table} AS SELECT * FROM {parquet_scan(path)}").fetchall()
    counts = {
        table: con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0] for table in staged
    }
    results = []
    for check in checks:
        missing = [t for t in check.tables if t not in staged]
        row = {
            "check": check.name,
            "table": check.tables[0],
            "kind": check.kind,
            "severity": check.severity,
            "description": check.description,
            "failing_rows": None,
            "checked_rows": counts.get(check.tables[0]),
            "sample": None,
        }
        if missing:
            row.update(status="skipped", sample="missing: " + ", ".join(TABLES[t].filename for t in missing))
        else:
            # Foreign-key checks group the orphans by key: report orphan *rows*, show the keys.
            failing = 0
            for part in _parts(con, check, counts.get(check.tables[0]) or 0):
                failing_sql = check.failing_sql.replace(PART, part)
                count_sql = (
                    f"SELECT coalesce(sum(orphan_rows), 0) FROM ({failing_sql})"
                    if check.kind == "foreign_key"
                    else f"SELECT count(*) FROM ({failing_sql})"
                )
                found = int(con.execute(count_sql).fetchall()[0][0])
                if found and row["sample"] is None:
                    sample = con.execute(f"{failing_sql} LIMIT {int(sample_size)}").df()
                    row["sample"] = sample.to_json(orient="records", date_format="iso")
                failing += found
            row["failing_rows"] = failing
            row["status"] = ("failed" if check.severity == "error" else "warned") if failing else "passed"
        results.append(row)
    frame = pd.DataFrame(results, columns=QUALITY_COLUMNS)
    frame["failing_rows"] = frame["failing_rows"].astype("Int64")
    frame["checked_rows"] = frame["checked_rows"].astype("Int64")
    return frame


def _parts(con: duckdb.DuckDBPyConnection, check: Check, rows: int) -> list[str]:
    """The range conditions a check runs under: one pass (``true``) unless it groups a big table.

    Ranges split ``[min, max]`` of the split column evenly into ``ceil(rows / GROUP_PASS_ROWS)``
    passes (integers and dates); NULLs get a pass of their own so none is left out.
    """
    if check.split_column is None or rows <= GROUP_PASS_ROWS:
        return ["true"]
    column = quote_ident(check.split_column)
    table = check.tables[0]
    low, high, kind = con.execute(
        f"SELECT min({column}), max({column}), typeof(min({column})) FROM {table}"
    ).fetchall()[0]
    if low is None:
        return ["true"]
    passes = -(-rows // GROUP_PASS_ROWS)
    if kind == "DATE":
        start, span = low.toordinal(), high.toordinal() - low.toordinal()
        literal = lambda ordinal: f"DATE '{date.fromordinal(int(ordinal)).isoformat()}'"  # noqa: E731
    elif kind in ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "HUGEINT"):
        start, span = int(low), int(high) - int(low)
        literal = str
    else:
        return ["true"]
    bounds = sorted({start + (span + 1) * step // passes for step in range(passes + 1)})
    parts = [f"{column} >= {literal(a)} AND {column} < {literal(b)}" for a, b in zip(bounds, bounds[1:])]
    return parts + [f"{column} IS NULL"]
