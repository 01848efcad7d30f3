"""All the checks of a run over its window, and the run report that gathers them.

The checks come in families, each in its own module and each plain ANSI SQL through the
Warehouse interface, so the same checks run on DuckDB and Athena:

- coverage: every day of the window landed (a manifest per fact table) and in the marts, and
  per day the landed, staged and mart row counts agree;
- ledger: the defect ledger against what staging flagged or removed;
- promotions: each week of the window has its published plan, and every sale's discount is
  the plan's;
- money: net revenue, cost and profit recomputed from the raw sale lines;
- suppliers: the supplier scorecard recomputed from the raw delivery lines (per-day totals
  kept between runs, so a daily run recomputes only its new and re-landed days, a backfill
  its window and those);
- stock: on hand conserved between consecutive counts of every cell.

Coverage comes first: when a day is missing, the run's one-line error names the day.

A daily run keeps, besides the supplier totals, the promotion, money (raw side) and stock
results of the days it read (``retailops.validation.kept``): the next run reads those families
only for the days not kept with the same inputs, so its cost is a day's, not a week's.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields
from datetime import date, datetime, timezone
from typing import Any

from retailops.errors import InvalidParameterError
from retailops.validation.checks import Check, sales_mart_days
from retailops.validation.coverage import presence_checks, row_checks
from retailops.validation.kept import DayResults, fingerprints
from retailops.validation.ledger import ledger_checks
from retailops.validation.money import money_checks
from retailops.validation.promotions import promotion_checks
from retailops.validation.stock import stock_checks
from retailops.validation.suppliers import DayReader, DeliveryTotals, supplier_checks
from retailops.validation.window import Window
from retailops.warehouse.engines import Warehouse


@dataclass(frozen=True)
class Settings:
    """Tunable parts of the validation (``validation:`` in parameters_validate.yml)."""

    daily_window_days: int = 7          # a daily run validates max(first landed, D-6)..D
    money_tolerance: float = 1e-4       # relative, per day (0.01%)
    stock_lookback_days: int = 37       # how far back a pair's first count may lie (per pair)
    batch_days: int = 31                # the heavy checks read a long window this many days at a time

    @classmethod
    def from_params(cls, params: dict[str, Any] | None) -> "Settings":
        """From ``params:validation``; an unknown key or a value out of range is one line."""
        params = dict(params or {})
        unknown = sorted(set(params) - {f.name for f in fields(cls)})
        if unknown:
            raise InvalidParameterError(
                f"unknown validation setting(s) {', '.join(unknown)} (known: "
                f"{', '.join(f.name for f in fields(cls))})")
        settings = cls(**params)
        for name in ("daily_window_days", "stock_lookback_days", "batch_days"):
            value = getattr(settings, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidParameterError(
                    f"validation.{name}={value!r} must be a whole number of days >= 1")
        tolerance = settings.money_tolerance
        if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)) \
                or not 0 <= tolerance < 1:
            raise InvalidParameterError(
                f"validation.money_tolerance={tolerance!r} must be a fraction in [0, 1)")
        return settings


def reconcile(warehouse: Warehouse, first: date, last: date,
              settings: Settings = Settings()) -> list[Check]:
    """All checks for the days ``first..last`` (the supplier scorecard from every day)."""
    return reconcile_keeping(warehouse, first, last, settings, None)[0]


def reconcile_keeping(warehouse: Warehouse, first: date, last: date, settings: Settings,
                      kept: DeliveryTotals | None, read_days: DayReader | None = None
                      ) -> tuple[list[Check], DeliveryTotals]:
    """All checks for the days ``first..last``, given the per-day delivery totals kept by the
    last run (None: none kept; ``read_days`` reads its day files); returns them with the
    totals to keep for the next run. Every
    other family reads only the window's partitions (and the stock check's lookback)."""
    checks, totals, _ = reconcile_daily(warehouse, first, last, settings, kept, read_days)
    return checks, totals


def reconcile_daily(warehouse: Warehouse, first: date, last: date, settings: Settings,
                    kept: DeliveryTotals | None, read_days: DayReader | None = None,
                    kept_days: DayResults | None = None, products_sha: str | None = None
                    ) -> tuple[list[Check], DeliveryTotals, DayResults | None]:
    """``reconcile_keeping``, and with ``kept_days`` (the day results the last run kept; an
    empty ``DayResults()`` when none are) the promotion, money and stock families read only
    the window's days not kept with the same inputs; returns the day results to keep
    (``None`` without ``kept_days``). ``products_sha``: the sha256 of the products file the
    money check's unit costs come from (None: the money check keeps nothing)."""
    window = Window(first, last)
    # A daily run recomputes the supplier totals of the days that are new, re-landed or
    # removed only (the new day, as a rule), not its whole week: a day's totals are keyed by
    # its partition's checksum, as the day results are. A backfill recomputes its window.
    suppliers, totals = supplier_checks(warehouse, None if kept_days is not None else window,
                                        kept, read_days, settings.batch_days)
    # fct_daily_sales per day, read once for the presence, row and money checks and the day
    # fingerprints.
    sold = sales_mart_days(warehouse, first, last)
    keys = None
    if kept_days is not None:
        keys = fingerprints(warehouse, window, settings.stock_lookback_days, products_sha,
                            sold)
        kept_days = DayResults({family: dict(per_day)
                                for family, per_day in kept_days.days.items()})
    # The stock check (the largest statement, a third of a daily validation's time at scale
    # 16) runs on a second connection beside the other families where the engine has one:
    # most statements are too small to keep both cores busy alone. The checks and the kept
    # results are the same either way (each family keeps its own days in ``kept_days``).
    stock_inputs = (window, settings.stock_lookback_days, kept_days, keys and keys.stock,
                    settings.batch_days)
    with warehouse.concurrent() as beside, ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="stock-check") as pool:
        stock = None if beside is None else pool.submit(stock_checks, beside, *stock_inputs)
        checks = [
            *presence_checks(warehouse, window, sold),
            *row_checks(warehouse, window, sold, settings.batch_days),
            *ledger_checks(warehouse, window, settings.batch_days),
            *promotion_checks(warehouse, window, kept_days, keys and keys.promotions,
                              settings.batch_days),
            *money_checks(warehouse, window, sold, settings.money_tolerance, kept_days,
                          keys and keys.money, settings.batch_days),
            *suppliers,
            *(stock.result() if stock is not None
              else stock_checks(warehouse, *stock_inputs)),
        ]
    return checks, totals, None if kept_days is None else kept_days.within(window)


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
        "failures": [c.describe() for c in checks if not c.ok],
        "checks": [c.to_dict() for c in checks],
        "dbt": {k: build_summary.get(k) for k in (
            "success", "models_built", "tests_passed", "tests_warned", "failed_tests",
            "failed_models", "seconds", "finished_at")},
    }
