"""The sales against the promotion plan: every discount sold is the discount published.

The plan of a week is the publication of its Monday (``raw/promotions/dt=<Monday>/``), which
lists that week's promoted products. Over the window: each week has its plan (a complete
partition; none means the week's plan was never published, named), and every sale line's
discount equals the plan's for its product and week, 0 when the product is not listed. Sale
lines whose blank discount the defect ledger records (null_discount) are left out: their
discount is unknown, and the ledger checks account for them. Only the window's sale
partitions and its Mondays' plan partitions are read; with results kept by earlier daily runs
(``retailops.validation.kept``), only the days not already found clean with the same inputs.
"""

from __future__ import annotations

from datetime import date, timedelta

from retailops.validation.checks import Check, day_batches, day_list, days, named, rows
from retailops.validation.kept import DayResults
from retailops.validation.window import Window
from retailops.warehouse.engines import Warehouse

# Discounts are fractions with two decimals; anything closer is the same discount.
TOLERANCE = 1e-9


def _mondays(window: Window) -> list[date]:
    monday = window.first - timedelta(days=window.first.weekday())
    found = []
    while monday <= window.last:
        found.append(monday)
        monday += timedelta(days=7)
    return found


def _sql_list(values: list[str]) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


def promotion_checks(warehouse: Warehouse, window: Window, kept: DayResults | None = None,
                     keys: dict[str, str] | None = None, batch_days: int = 31) -> list[Check]:
    """The window's weeks each have their published plan; the sales follow it. ``kept``: the
    days earlier runs found clean (fingerprints ``keys``), not read again; the days found
    clean now are added to it. The sale lines are read ``batch_days`` at a time."""
    stg = lambda name: warehouse.table("staging", name)  # noqa: E731
    mondays = _mondays(window)
    published = {date.fromisoformat(str(row[0])) for row in rows(warehouse, (
        f"select distinct partition_dt from {stg('stg_manifests')} "
        f"where table_name = 'promotions' "
        f"and partition_dt in {_sql_list([m.isoformat() for m in mondays])}"))}
    missing = [m for m in mondays if m not in published]
    checks = [Check(
        "promotions: every week of the window has its published plan", len(mondays),
        len(mondays) - len(missing),
        "weeks with a complete plan partition of their Monday (dt=<Monday>)",
        problems=tuple(f"no plan published for the week of {m.isoformat()}" for m in missing))]

    # Days whose week has a plan; the others are named above.
    planned_days = [d.isoformat() for d in days(window.first, window.last)
                    if d - timedelta(days=d.weekday()) in published]
    if not planned_days:
        checks.append(Check("sales: every discount equals the published plan", 0.0, None,
                            "no day of the window has a published plan to compare with"))
        return checks
    keys = keys or {}
    if kept is not None:
        planned_days = [d for d in planned_days if kept.get("promotions", d, keys.get(d)) is None]
        kept.read("promotions", planned_days)
    # In day order, batch after batch: the order one pass over the days gives.
    mismatches = [row for batch in day_batches([date.fromisoformat(d) for d in planned_days],
                                               batch_days)
                  for row in _mismatches(warehouse, [d.isoformat() for d in batch])]
    if kept is not None:
        broken = {str(row[0])[:10] for row in mismatches}
        for day in planned_days:
            if day in broken:
                kept.forget("promotions", day)
            else:
                kept.put("promotions", day, keys.get(day), [])
    lines = sum(int(row[4]) for row in mismatches)
    problems = [
        f"{day} {product}: {int(n)} line(s) sold at {sold:g}, "
        + ("not in the plan" if plan is None else f"plan {plan:g}")
        for day, product, sold, plan, n in mismatches]
    bad_days = sorted({date.fromisoformat(str(row[0])) for row in mismatches})
    explanation = ("sale lines whose discount differs from their week's published plan "
                   "(0 when not promoted); ledgered blank discounts excepted")
    if bad_days:
        explanation += f"; days {day_list(bad_days)}"
    checks.append(Check("sales: every discount equals the published plan", 0.0, float(lines),
                        explanation, problems=named(problems)))
    return checks


def _mismatches(warehouse: Warehouse, planned_days: list[str]) -> list[tuple]:
    """(day, product, discount sold, plan, lines) for the sale lines of ``planned_days`` (ISO
    dates whose week has a plan) that do not follow their week's plan."""
    stg = lambda name: warehouse.table("staging", name)  # noqa: E731
    a, b = min(planned_days), max(planned_days)
    plan_partitions = _sql_list(sorted({(date.fromisoformat(d) - timedelta(
        days=date.fromisoformat(d).weekday())).isoformat() for d in planned_days}))
    # The week's own publication (start_date = published_date); one row per product and
    # week expected (dbt's grain test), min/max so that two disagreeing rows never pass.
    return rows(warehouse, f"""
        with plan as (
            select start_date, product_id, min(discount_pct) as low, max(discount_pct) as high
            from {stg('stg_promotions')}
            where partition_dt in {plan_partitions} and start_date = published_date
            group by start_date, product_id
        ),
        blanked as (
            select record_key from {stg('stg_defects')}
            where defect_type = 'null_discount'
              and ledger = 'facts' and partition_dt between '{a}' and '{b}'
              and defect_date between date '{a}' and date '{b}'
        ),
        -- A key equal to a sale line's id as text is that id written plainly, so the lines
        -- are matched by number: casting every line's id to text cost two thirds of the
        -- query at scale 16. NOT IN's rules are kept: with no key every line is compared;
        -- with a NULL key, or a line without an id, the comparison is unknown (left out).
        blanked_ids as (
            select distinct try_cast(record_key as bigint) as sale_id
            from blanked
            where record_key = cast(try_cast(record_key as bigint) as varchar)
        ),
        blanked_keys as (
            select count(*) as keys, count(record_key) as known_keys from blanked
        ),
        sold as (
            select s.partition_dt, s.product_id, s.discount_pct, p.low, p.high
            from {stg('stg_sales')} s
            cross join blanked_keys
            left join plan p
              on p.product_id = s.product_id
             and date_diff('day', p.start_date, s.sale_date) between 0 and 6
            where s.partition_dt in {_sql_list(planned_days)}
              and (blanked_keys.keys = 0
                   or (blanked_keys.known_keys = blanked_keys.keys
                       and s.sale_id is not null
                       and s.sale_id not in (select sale_id from blanked_ids)))
        )
        select partition_dt, product_id, discount_pct, low, count(*) as lines
        from sold
        where (low is null and abs(discount_pct) > {TOLERANCE})
           or (low is not null and (abs(discount_pct - low) > {TOLERANCE}
                                    or abs(high - low) > {TOLERANCE}))
        group by partition_dt, product_id, discount_pct, low
        order by partition_dt, product_id
    """)
