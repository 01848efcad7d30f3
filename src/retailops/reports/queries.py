"""The report's analysis queries, as SQL over the ``Warehouse`` interface.

Every query is plain ANSI SQL that DuckDB and Athena (Trino) both run: tables are named with
``warehouse.table(layer, name)``, dates are computed in Python and passed as ``date 'YYYY-MM-DD'``
literals (so a date filter prunes Athena's partitions), ratios divide doubles (Trino divides
integers as integers), and "latest row per key" uses ``row_number()`` rather than ``QUALIFY``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Callable

import pandas as pd

from retailops.errors import RetailOpsError
from retailops.warehouse.engines import Warehouse


class NoSalesError(RetailOpsError):
    """The marts hold no sales yet, so there is nothing to report on."""


@dataclass(frozen=True)
class ReportWindow:
    """The days a report covers, anchored on the last day with sales in the marts.

    ``first..last`` is the current period (the KPI tiles, categories, products, stores);
    ``previous_first..previous_last`` the period of the same length just before it;
    ``trend_first..last`` the trend chart; ``cover_first..last`` the sales that days of cover
    are measured against; ``counts_first..last`` the inventory counts still considered current
    (an older count is stale, and skipping it keeps the query from scanning all history).
    """

    first: date
    last: date
    previous_first: date
    previous_last: date
    trend_first: date
    cover_first: date
    counts_first: date

    @classmethod
    def ending(cls, last: date, period_days: int, trend_days: int, cover_lookback_days: int,
               data_first_day: date | None = None,
               count_lookback_days: int = 60) -> "ReportWindow":
        """The window ending on ``last``. Average daily sales are measured only over days the
        marts hold (from ``data_first_day``), so a young lake does not dilute them."""
        first = last - timedelta(days=period_days - 1)
        previous_last = first - timedelta(days=1)
        cover_first = last - timedelta(days=cover_lookback_days - 1)
        counts_first = last - timedelta(days=count_lookback_days - 1)
        if data_first_day is not None:
            cover_first = max(cover_first, min(data_first_day, last))
            counts_first = max(counts_first, min(data_first_day, last))
        return cls(first=first, last=last,
                   previous_first=previous_last - timedelta(days=period_days - 1),
                   previous_last=previous_last,
                   trend_first=last - timedelta(days=trend_days - 1),
                   cover_first=cover_first,
                   counts_first=counts_first)

    @property
    def period_days(self) -> int:
        return (self.last - self.first).days + 1

    @property
    def cover_days(self) -> int:
        return (self.last - self.cover_first).days + 1


def _day(value: date) -> str:
    return f"date '{value.isoformat()}'"


def _as_date(value: object) -> date | None:
    if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NaT:
        return None
    return pd.Timestamp(value).date()


def sales_date_range(warehouse: Warehouse) -> tuple[date, date]:
    """First and last day with sales in ``fct_daily_sales``."""
    sales = warehouse.table("marts", "fct_daily_sales")
    row = warehouse.query(
        f"select min(sale_date) as first_day, max(sale_date) as last_day from {sales}").iloc[0]
    first, last = _as_date(row["first_day"]), _as_date(row["last_day"])
    if first is None or last is None:
        raise NoSalesError(f"{sales} holds no sales: run the ingest and transform stages first")
    return first, last


def period_kpis(warehouse: Warehouse, window: ReportWindow) -> pd.DataFrame:
    """Net revenue, profit, margin, units and transactions for the current and previous period.

    One row per period (``current``, ``previous``); a period without sales has zeros and a null
    margin, so the caller can tell "no comparison" from "no change".
    """
    sales = warehouse.table("marts", "fct_daily_sales")
    return warehouse.query(f"""
        with periods as (
            select 'current' as period, {_day(window.first)} as first_day,
                   {_day(window.last)} as last_day
            union all
            select 'previous', {_day(window.previous_first)}, {_day(window.previous_last)}
        ),
        totals as (
            select
                periods.period,
                count(distinct sales.sale_date) as days_with_sales,
                coalesce(sum(sales.net_revenue), 0) as net_revenue,
                coalesce(sum(sales.profit), 0) as profit,
                coalesce(sum(sales.quantity), 0) as units,
                coalesce(sum(sales.transactions), 0) as transactions
            from periods
            left join {sales} as sales
                on sales.sale_date between periods.first_day and periods.last_day
            group by periods.period
        )
        select
            period, days_with_sales, net_revenue, profit, units, transactions,
            profit / nullif(net_revenue, 0) as margin
        from totals
        order by case period when 'current' then 0 else 1 end
    """)


def daily_trend(warehouse: Warehouse, window: ReportWindow) -> pd.DataFrame:
    """Net revenue, profit and units per day over the trend window."""
    sales = warehouse.table("marts", "fct_daily_sales")
    return warehouse.query(f"""
        select
            sale_date,
            sum(net_revenue) as net_revenue,
            sum(profit) as profit,
            sum(quantity) as units
        from {sales}
        where sale_date between {_day(window.trend_first)} and {_day(window.last)}
        group by sale_date
        order by sale_date
    """)


def revenue_and_profit_by_category(warehouse: Warehouse, window: ReportWindow) -> pd.DataFrame:
    """Per product category in the current period: net revenue, profit, margin, units."""
    sales = warehouse.table("marts", "fct_daily_sales")
    products = warehouse.table("marts", "dim_products")
    return warehouse.query(f"""
        with by_category as (
            select
                products.category,
                sum(sales.net_revenue) as net_revenue,
                sum(sales.profit) as profit,
                sum(sales.quantity) as units
            from {sales} as sales
            join {products} as products on sales.product_id = products.product_id
            where sales.sale_date between {_day(window.first)} and {_day(window.last)}
            group by products.category
        )
        select
            category, net_revenue, profit, units,
            profit / nullif(net_revenue, 0) as margin,
            net_revenue / nullif(sum(net_revenue) over (), 0) as revenue_share
        from by_category
        order by net_revenue desc, category
    """)


def top_products(warehouse: Warehouse, window: ReportWindow, limit: int = 10) -> pd.DataFrame:
    """The best-selling products by net revenue in the current period."""
    sales = warehouse.table("marts", "fct_daily_sales")
    products = warehouse.table("marts", "dim_products")
    return warehouse.query(f"""
        with by_product as (
            select
                sales.product_id,
                sum(sales.net_revenue) as net_revenue,
                sum(sales.profit) as profit,
                sum(sales.quantity) as units
            from {sales} as sales
            where sales.sale_date between {_day(window.first)} and {_day(window.last)}
            group by sales.product_id
        ),
        ranked as (
            select
                row_number() over (order by by_product.net_revenue desc,
                                            by_product.product_id) as revenue_rank,
                by_product.product_id,
                products.product_name,
                products.category,
                products.brand,
                by_product.net_revenue,
                by_product.profit,
                by_product.units,
                by_product.profit / nullif(by_product.net_revenue, 0) as margin
            from by_product
            left join {products} as products on by_product.product_id = products.product_id
        )
        select * from ranked
        where revenue_rank <= {int(limit)}
        order by revenue_rank
    """)


def store_rankings(warehouse: Warehouse, window: ReportWindow) -> pd.DataFrame:
    """Every store ranked by net revenue in the current period, with revenue per square foot."""
    sales = warehouse.table("marts", "fct_daily_sales")
    stores = warehouse.table("marts", "dim_stores")
    return warehouse.query(f"""
        with by_store as (
            select
                sales.store_id,
                sum(sales.net_revenue) as net_revenue,
                sum(sales.profit) as profit,
                sum(sales.quantity) as units,
                sum(sales.transactions) as transactions
            from {sales} as sales
            where sales.sale_date between {_day(window.first)} and {_day(window.last)}
            group by sales.store_id
        )
        select
            rank() over (order by by_store.net_revenue desc) as revenue_rank,
            by_store.store_id,
            stores.store_name,
            stores.city,
            stores.region,
            stores.store_type,
            by_store.net_revenue,
            by_store.profit,
            by_store.units,
            by_store.transactions,
            by_store.profit / nullif(by_store.net_revenue, 0) as margin,
            by_store.net_revenue / nullif(cast(stores.size_sqft as double), 0)
                as net_revenue_per_sqft
        from by_store
        left join {stores} as stores on by_store.store_id = stores.store_id
        order by revenue_rank, by_store.store_id
    """)


def supplier_scorecard(warehouse: Warehouse) -> pd.DataFrame:
    """Each supplier's delivery record against what it promised, worst on-time rate first."""
    suppliers = warehouse.table("marts", "mart_supplier_performance")
    return warehouse.query(f"""
        select
            supplier_id,
            supplier_name,
            country,
            shipments,
            lines,
            late_shipments,
            on_time_rate,
            promised_on_time_rate,
            on_time_rate - promised_on_time_rate as on_time_gap,
            fill_rate,
            avg_lead_time_days,
            promised_lead_time_days,
            duplicate_lines_removed
        from {suppliers}
        where shipments > 0
        order by on_time_rate, supplier_id
    """)


def inventory_health(warehouse: Warehouse, window: ReportWindow) -> pd.DataFrame:
    """Stock-out rate and days of cover per category, from each cell's latest count.

    Counts are a rotating cycle count, so each store × product cell's most recent count (within
    ``counts_first..last``) is its best known stock. Days of cover = units on hand in those cells / their average daily units
    sold over the cover window; null when the cells sold nothing (cover is unbounded).
    """
    counts = warehouse.table("marts", "fct_inventory_snapshots")
    sales = warehouse.table("marts", "fct_daily_sales")
    products = warehouse.table("marts", "dim_products")
    return warehouse.query(f"""
        with numbered_counts as (
            select
                store_id, product_id, snapshot_date, quantity_on_hand, inventory_value,
                is_stock_out, is_below_reorder_point,
                row_number() over (partition by store_id, product_id
                                   order by snapshot_date desc) as recency
            from {counts}
            where snapshot_date between {_day(window.counts_first)} and {_day(window.last)}
        ),
        latest_counts as (
            select * from numbered_counts where recency = 1
        ),
        recent_sales as (
            select store_id, product_id, sum(quantity) as units_sold
            from {sales}
            where sale_date between {_day(window.cover_first)} and {_day(window.last)}
            group by store_id, product_id
        ),
        by_category as (
            select
                products.category,
                count(*) as cells_counted,
                sum(case when latest_counts.is_stock_out then 1 else 0 end) as stock_outs,
                sum(case when latest_counts.is_below_reorder_point then 1 else 0 end)
                    as below_reorder_point,
                sum(coalesce(latest_counts.quantity_on_hand, 0)) as units_on_hand,
                sum(coalesce(latest_counts.inventory_value, 0)) as inventory_value,
                sum(coalesce(recent_sales.units_sold, 0)) as units_sold
            from latest_counts
            join {products} as products on latest_counts.product_id = products.product_id
            left join recent_sales
                on latest_counts.store_id = recent_sales.store_id
                and latest_counts.product_id = recent_sales.product_id
            group by products.category
        )
        select
            category,
            cells_counted,
            stock_outs,
            below_reorder_point,
            cast(stock_outs as double) / cells_counted as stock_out_rate,
            units_on_hand,
            inventory_value,
            cast(units_sold as double) / {window.cover_days} as avg_daily_units_sold,
            units_on_hand / nullif(cast(units_sold as double) / {window.cover_days}, 0)
                as days_of_cover
        from by_category
        order by category
    """)


def defect_counts(warehouse: Warehouse, first: date, last: date) -> pd.DataFrame:
    """Defects in the ledger by table and type: fact defects dated first..last, plus every
    dimension defect (dimensions are rewritten each run and carry no date). The filter is on
    the ledger's partition so only the period's files are read."""
    defects = warehouse.table("staging", "stg_defects")
    return warehouse.query(f"""
        select table_name, defect_type, count(*) as defects
        from {defects}
        where partition_dt between '{first.isoformat()}' and '{last.isoformat()}'
           or partition_dt is null
        group by table_name, defect_type
        order by defects desc, table_name, defect_type
    """)


# Each query of the report by name, as the benchmark and the page builder call them.
WindowedQuery = Callable[[Warehouse, ReportWindow], pd.DataFrame]
REPORT_QUERIES: dict[str, WindowedQuery] = {
    "period_kpis": period_kpis,
    "daily_trend": daily_trend,
    "revenue_and_profit_by_category": revenue_and_profit_by_category,
    "top_products": top_products,
    "store_rankings": store_rankings,
    "supplier_scorecard": lambda warehouse, window: supplier_scorecard(warehouse),
    "inventory_health": inventory_health,
    "defect_counts": lambda warehouse, window: defect_counts(warehouse, window.first,
                                                             window.last),
}
