"""The forecasters' history, read from the marts: one row per store x product x day.

Two readers give the same frames: ``WarehouseMarts`` queries the warehouse interface (locally
the readers' serving DuckDB file, which never blocks a run), ``ParquetMarts`` reads the curated
Parquet the marts are written as (``curated/<mart>/``; on AWS the S3 bucket through the lake's
filesystem, so no Athena query is paid for a full history scan). ``load_history`` then
densifies the sales to every store x product x day: a day without a sale row is a real zero,
unless the censoring rule (``forecast.censoring``) later says the shelf was empty.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Protocol, Sequence

import numpy as np
import pandas as pd

from retailops.errors import RetailOpsError
from retailops.forecast import frames as F
from retailops.lake.storage import Lake
from retailops.warehouse.engines import Warehouse


class InsufficientHistoryError(RetailOpsError):
    """The marts hold fewer days of sales than the forecast models need."""


PRODUCT_COLUMNS = ("product_id", "category", "subcategory", "list_price", "is_perishable")
STORE_COLUMNS = ("store_id", "store_type", "region", "store_cluster", "size_sqft")


class MartReader(Protocol):
    def read(self, mart: str, columns: Sequence[str], date_column: str | None = None,
             first: date | None = None, last: date | None = None) -> pd.DataFrame:
        """The columns of a mart, the days first..last of a fact."""

    def sales_days(self) -> tuple[date, date] | None:
        """First and last day with sales in the marts (None without any)."""


def _sql_date(day: date) -> str:
    return f"date '{day.isoformat()}'"


def _sql_texts(values: Sequence[str]) -> str:
    """Text literals for an ``in (...)`` list (quotes doubled); ``NULL`` for none."""
    quoted = ["'" + str(v).replace("'", "''") + "'" for v in values]
    return ", ".join(quoted) if quoted else "NULL"


@dataclass
class WarehouseMarts:
    """The marts through the warehouse interface (DuckDB serving file, or Athena)."""

    warehouse: Warehouse

    def read(self, mart, columns, date_column=None, first=None, last=None) -> pd.DataFrame:
        where = ""
        if date_column and first and last:
            where = f" where {date_column} between {_sql_date(first)} and {_sql_date(last)}"
        return self.warehouse.query(f"select {', '.join(columns)} from "
                                    f"{self.warehouse.table('marts', mart)}{where}")

    def read_keyed(self, mart: str, columns: Sequence[str], date_column: str, first: date,
                   last: date, stores: Sequence[str] | None = None
                   ) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
        """The days first..last of a fact with no text column: ``store_code`` and
        ``product_code`` number the dimension marts' ids in their sorted order, ``day_index`` is
        the day's offset from ``first``; then the stores' and the products' ids by code. A fact
        row whose store or product is not in the dimensions is left out (as ``load_history``
        leaves out ids it does not know). 175 days at scale 1 are ~3M sale rows: their ids as
        Python strings took seconds to cross from DuckDB and to hash. ``stores``: only these
        stores' rows (a block of the chain, ``forecast.blocks``); the codes still number every
        store of the dimension."""
        codes = {key: (f"select distinct {key} from {self.warehouse.table('marts', dim)} "
                       f"where {key} is not null")
                 for key, dim in (("store_id", "dim_stores"), ("product_id", "dim_products"))}
        numbered = {key: f"select {key}, cast(row_number() over (order by {key}) - 1 as integer)"
                         f" as {key.replace('_id', '_code')} from ({sql}) as ids"
                    for key, sql in codes.items()}
        fact = self.warehouse.table("marts", mart)
        rows_sql = (
            f"with stores as ({numbered['store_id']}), products as ({numbered['product_id']}) "
            f"select stores.store_code, products.product_code, "
            f"cast(date_diff('day', {_sql_date(first)}, fact.{date_column}) as integer) "
            f"as day_index, {', '.join(f'fact.{c}' for c in columns)} from {fact} as fact "
            f"join stores on stores.store_id = fact.store_id "
            f"join products on products.product_id = fact.product_id "
            f"where fact.{date_column} between {_sql_date(first)} and {_sql_date(last)}")
        if stores is not None:
            rows_sql += f" and fact.store_id in ({_sql_texts(stores)})"
        with self.warehouse.session() as session:
            rows = session.query(rows_sql)
            ids = {key: session.query(f"{sql} order by 2")[key].astype(str).to_numpy()
                   for key, sql in numbered.items()}
        return rows, ids["store_id"], ids["product_id"]

    def sales_days(self) -> tuple[date, date] | None:
        if not self.warehouse.has_table("marts", "fct_daily_sales"):
            return None
        found = self.warehouse.query("select min(sale_date) as first, max(sale_date) as last "
                                     f"from {self.warehouse.table('marts', 'fct_daily_sales')}")
        if found.empty or pd.isna(found.iloc[0, 0]):
            return None
        return pd.Timestamp(found.iloc[0, 0]).date(), pd.Timestamp(found.iloc[0, 1]).date()


@dataclass
class ParquetMarts:
    """The curated Parquet of the marts, through the lake's filesystem (local or S3).

    Dimensions are ``curated/<mart>/<mart>.parquet``; facts are hive-partitioned by their date
    column (``curated/<fact>/<date_column>=YYYY-MM-DD/*.parquet``), so a date range reads only
    its days' files.
    """

    lake: Lake

    def _files(self, mart: str) -> list[str]:
        return [p for p in self.lake.find(f"curated/{mart}") if p.endswith(".parquet")]

    def _partition_days(self, mart: str, date_column: str) -> dict[date, list[str]]:
        days: dict[date, list[str]] = {}
        for path in self._files(mart):
            for part in path.split("/"):
                if part.startswith(f"{date_column}="):
                    days.setdefault(date.fromisoformat(part.split("=", 1)[1][:10]), []).append(path)
        return days

    def read(self, mart, columns, date_column=None, first=None, last=None) -> pd.DataFrame:
        import pyarrow.parquet as pq

        if date_column:
            by_day = self._partition_days(mart, date_column)
            chosen = [(d, p) for d, paths in sorted(by_day.items()) for p in paths
                      if (first is None or d >= first) and (last is None or d <= last)]
        else:
            chosen = [(None, p) for p in self._files(mart)]
        frames = []
        for day, path in chosen:
            with self.lake.fs.open(self.lake.url(path), "rb") as handle:
                table = pq.read_table(handle, columns=[c for c in columns if c != date_column])
            frame = table.to_pandas()
            if date_column:
                frame[date_column] = pd.Timestamp(day)
            frames.append(frame)
        if not frames:
            return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
        return pd.concat(frames, ignore_index=True)[list(columns)]

    def read_keyed(self, mart: str, columns: Sequence[str], date_column: str, first: date,
                   last: date, stores: Sequence[str] | None = None
                   ) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
        """``WarehouseMarts.read_keyed`` from the Parquet files: the same integer columns
        (``store_code``, ``product_code`` numbering the dimension marts' sorted ids,
        ``day_index`` from ``first``), the same rows left out (ids not in the dimensions,
        NULL ids, other stores than ``stores``), and the ids by code. The ids are read as
        Parquet dictionaries: only each file's distinct ids become Python text, never a row's."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        ids = {}
        for key, dim in (("store_id", "dim_stores"), ("product_id", "dim_products")):
            values = self.read(dim, (key,))[key].dropna().astype(str)
            # DuckDB orders text by its bytes (UTF-8): Python's code point order is the same.
            ids[key] = np.array(sorted(set(values)), dtype=object)
        wanted = None if stores is None else pd.Index(ids["store_id"]).isin(
            [str(s) for s in stores])
        by_day = self._partition_days(mart, date_column)
        parts: dict[str, list[np.ndarray]] = {k: [] for k in
                                              ("store_code", "product_code", "day_index",
                                               *columns)}
        for day, paths in sorted(by_day.items()):
            if day < first or day > last:
                continue
            for path in paths:
                with self.lake.fs.open(self.lake.url(path), "rb") as handle:
                    table = pq.read_table(handle, columns=["store_id", "product_id", *columns],
                                          read_dictionary=["store_id", "product_id"])
                codes = {}
                for key in ("store_id", "product_id"):
                    column = table.column(key).combine_chunks()
                    if not isinstance(column.type, pa.DictionaryType):
                        column = column.dictionary_encode()
                    known = pd.Index(ids[key]).get_indexer(
                        pd.Index(column.dictionary.to_pylist()).astype(str))
                    index = column.indices.fill_null(0).to_numpy(zero_copy_only=False)
                    valid = column.is_valid().to_numpy(zero_copy_only=False)
                    codes[key] = np.where(valid, known[np.where(valid, index, 0)], -1)
                keep = (codes["store_id"] >= 0) & (codes["product_id"] >= 0)
                if wanted is not None:
                    keep &= wanted[np.maximum(codes["store_id"], 0)]
                parts["store_code"].append(codes["store_id"][keep].astype(np.int32))
                parts["product_code"].append(codes["product_id"][keep].astype(np.int32))
                parts["day_index"].append(np.full(int(keep.sum()), (day - first).days,
                                                  dtype=np.int32))
                for name in columns:
                    parts[name].append(table.column(name).to_numpy()[keep])
        rows = pd.DataFrame({name: (np.concatenate(values) if values
                                    else np.array([], dtype=np.int32))
                             for name, values in parts.items()})
        return rows, ids["store_id"], ids["product_id"]

    def sales_days(self) -> tuple[date, date] | None:
        days = self._partition_days("fct_daily_sales", "sale_date")
        return (min(days), max(days)) if days else None


def load_context(reader: MartReader) -> F.ForecastContext:
    """Products and stores from the dimension marts, with the retailer's holiday calendar."""
    products = reader.read("dim_products", PRODUCT_COLUMNS)
    stores = reader.read("dim_stores", STORE_COLUMNS)
    products["product_id"] = products["product_id"].astype(str)
    stores["store_id"] = stores["store_id"].astype(str)
    return F.ForecastContext(products=products.sort_values("product_id").reset_index(drop=True),
                             stores=stores.sort_values("store_id").reset_index(drop=True))


def history_window(reader: MartReader, days: int, last: date | None = None,
                   needed: int = 0) -> tuple[date, date]:
    """The last ``days`` days with sales (ending on ``last`` when given). Raises
    ``InsufficientHistoryError`` in one line when the marts hold fewer than ``needed`` days."""
    found = reader.sales_days()
    end = None if found is None else min(last or found[1], found[1])
    held = 0 if found is None else max((end - found[0]).days + 1, 0)
    if found is None or held < needed:
        span = "no sales" if found is None else f"{held} days ({found[0]}..{end})"
        raise InsufficientHistoryError(
            f"forecast needs at least {needed} days of sales history in the marts; "
            f"they hold {span}")
    return max(found[0], end - timedelta(days=days - 1)), end


def load_history(reader: MartReader, first: date, last: date,
                 context: F.ForecastContext, stores: Sequence[str] | None = None
                 ) -> pd.DataFrame:
    """Every store x product x day of first..last (``frames`` history columns plus ``on_hand``,
    ``stock_out_count``, ``unit_price``, ``discount_pct``, ``is_closed``), sorted by store,
    product, date. Store and product ids are categoricals (a year at default scale is ~26M rows).
    ``stores``: only these stores (ids of the context, in its order): a block of the chain
    (``forecast.blocks``) or the stores a model trains on; the rows of each are the ones the
    whole chain's history holds for it.
    """
    every_store = context.stores["store_id"].astype(str).to_numpy()
    if stores is None:
        subset = None
        stores = every_store
    else:
        subset = [str(s) for s in stores]
        unknown = sorted(set(subset) - set(every_store))
        if unknown:
            raise ValueError(f"load_history: stores not in the context: {unknown[:5]}")
        # In the context's order, as the whole chain's history holds them.
        stores = every_store[pd.Index(every_store).isin(subset)]
    products = context.products["product_id"].astype(str).to_numpy()
    days = pd.date_range(first, last, freq="D")
    n_s, n_p, n_d = len(stores), len(products), len(days)
    sale_columns = ("quantity", "gross_revenue", "discount_amount")
    keyed = getattr(reader, "read_keyed", None)
    if keyed is not None:
        # Ids as integer codes from the warehouse, mapped to the context's positions through
        # their distinct values (a few thousand), never per row.
        only = {} if subset is None else {"stores": stores.tolist()}
        sales, *sale_ids = keyed("fct_daily_sales", sale_columns, "sale_date", first, last,
                                 **only)
        counts, *count_ids = keyed("fct_inventory_snapshots", ("quantity_on_hand",),
                                   "snapshot_date", first, last, **only)
        ids_of = {"sale_date": sale_ids, "snapshot_date": count_ids}

        def cell_index(frame: pd.DataFrame, day_column: str) -> tuple[np.ndarray, np.ndarray]:
            store_ids, product_ids = ids_of[day_column]
            s = _coded_positions(frame["store_code"], store_ids, stores)
            p = _coded_positions(frame["product_code"], product_ids, products)
            d = frame["day_index"].to_numpy(dtype=np.int64)
            ok = (s >= 0) & (p >= 0) & (d >= 0) & (d < n_d)
            return ((s * n_p + p) * n_d + d)[ok], ok
    else:
        sales = reader.read("fct_daily_sales", ("store_id", "product_id", *sale_columns,
                                                "sale_date"), "sale_date", first, last)
        counts = reader.read("fct_inventory_snapshots",
                             ("store_id", "product_id", "quantity_on_hand", "snapshot_date"),
                             "snapshot_date", first, last)

        def cell_index(frame: pd.DataFrame, day_column: str) -> tuple[np.ndarray, np.ndarray]:
            s = _positions(frame["store_id"], stores)
            p = _positions(frame["product_id"], products)
            d = _day_positions(frame[day_column], days)
            ok = (s >= 0) & (p >= 0) & (d >= 0)
            return ((s * n_p + p) * n_d + d)[ok], ok

    size = n_s * n_p * n_d
    units = np.zeros(size, dtype=np.float32)
    gross = np.zeros(size, dtype=np.float32)
    discount = np.zeros(size, dtype=np.float32)
    if len(sales):
        idx, ok = cell_index(sales, "sale_date")
        # A daily mart holds one row per cell: each cell's sum is then its row's value, put in
        # place (bincount's float64 array of every cell and its float32 copy, three times, cost
        # ~0.4 CPU-s a predict-only day). The same numbers: bincount adds each row to 0.0 in
        # float64 and rounds to float32, as below.
        seen = np.zeros(size, dtype=bool)
        seen[idx] = True
        one_row_per_cell = int(np.count_nonzero(seen)) == len(idx)
        del seen

        def summed(column: str) -> np.ndarray:
            values = sales[column].to_numpy(dtype=np.float64)[ok]
            if one_row_per_cell:
                out = np.zeros(size, dtype=np.float32)
                out[idx] = values + 0.0
                return out
            # bincount sums rows of the same cell like np.add.at, at a fraction of its time.
            return np.bincount(idx, weights=values, minlength=size).astype(np.float32)

        units, gross, discount = (summed("quantity"), summed("gross_revenue"),
                                  summed("discount_amount"))
    on_hand = np.full(size, np.nan, dtype=np.float32)
    if len(counts):
        idx, ok = cell_index(counts, "snapshot_date")
        on_hand[idx] = counts["quantity_on_hand"].to_numpy(dtype=np.float32)[ok]
    with np.errstate(invalid="ignore", divide="ignore"):
        discount_pct = np.where(gross > 0, discount / gross, 0.0).astype(np.float32)
    list_price = context.products["list_price"].to_numpy(dtype=np.float32)
    closed = np.array([context.holiday(d.date())[1] == 0.0 for d in days])
    # copy=False: the columns stay separate arrays (pandas would otherwise copy the float32
    # ones into one block: 12.6M rows of a predict-only day at scale 1, a year's 26M).
    # The categories' codes built in the integer type pandas keeps them in (int8 for up to 127
    # categories, int16 ...), not as int64 it would then convert: 12.6M rows a predict-only day.
    store_codes = np.arange(n_s, dtype=_code_dtype(n_s))
    product_codes = np.arange(n_p, dtype=_code_dtype(n_p))
    history = pd.DataFrame({
        F.STORE: pd.Categorical.from_codes(np.repeat(store_codes, n_p * n_d), stores),
        F.PRODUCT: pd.Categorical.from_codes(np.tile(np.repeat(product_codes, n_d), n_s),
                                             products),
        F.DATE: np.tile(days.to_numpy(), n_s * n_p),
        F.UNITS: units,
        F.ON_HAND: on_hand,
        F.UNIT_PRICE: np.tile(np.repeat(list_price, n_d), n_s),
        F.DISCOUNT: discount_pct,
        F.CLOSED: np.tile(closed, n_s * n_p),
    }, copy=False)
    return history


def _code_dtype(n_categories: int) -> np.dtype:
    """The integer type pandas keeps the codes of ``n_categories`` categories in."""
    if n_categories == 0:
        return np.dtype(np.int8)
    return pd.Categorical.from_codes(np.zeros(1, dtype=np.int64),
                                     pd.RangeIndex(n_categories)).codes.dtype


def _coded_positions(codes: pd.Series, ids: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Each row's position among ``keys`` from its code into ``ids`` (-1 when absent)."""
    found = pd.Index(keys).get_indexer(pd.Index(ids).astype(str))
    return found[codes.to_numpy(dtype=np.int64)].astype(np.int64)


def _positions(values: pd.Series, keys: np.ndarray) -> np.ndarray:
    """Each value's position among ``keys`` by its text (-1 when absent): one hash pass over
    the values (millions of sale rows), the text comparison on their distinct values only."""
    codes, distinct = pd.factorize(values)
    found = pd.Index(keys).get_indexer(pd.Index(distinct).astype(str))
    return np.where(codes >= 0, found[np.maximum(codes, 0)], -1)


def _day_positions(values: pd.Series, days: pd.DatetimeIndex) -> np.ndarray:
    """Each value's position among consecutive ``days`` (-1 when not one of them), by
    arithmetic instead of a hash lookup per row."""
    stamps = pd.to_datetime(values).to_numpy(dtype="datetime64[ns]")
    known = ~np.isnat(stamps)
    offset = np.where(known, stamps - days[0].to_datetime64(), np.timedelta64(0, "ns"))
    one_day = np.timedelta64(1, "D")
    position = offset // one_day
    exact = known & (offset % one_day == np.timedelta64(0, "ns"))
    return np.where(exact & (position >= 0) & (position < len(days)), position, -1)


def observed_discounts(history: pd.DataFrame) -> pd.DataFrame:
    """The discounts the sales show, as a plan-shaped frame of one-day rows: promotions are
    chain-wide, so a product's discount on a day is the largest any store sold it at. Used for
    past days when the lake holds no promotion plan (a lake landed before the plan existed)."""
    seen = history.loc[history[F.DISCOUNT] > 0, [F.PRODUCT, F.DATE, F.DISCOUNT]]
    by_day = seen.groupby([F.PRODUCT, F.DATE], observed=True)[F.DISCOUNT].max().reset_index()
    return pd.DataFrame({"product_id": by_day[F.PRODUCT].astype(str),
                         "start_date": by_day[F.DATE], "end_date": by_day[F.DATE],
                         "discount_pct": by_day[F.DISCOUNT].round(2).astype(float)})


def fingerprint(history: pd.DataFrame) -> str:
    """A short digest of the training data (days, series, units sold), for training.json."""
    digest = hashlib.sha256()
    digest.update(str(history[F.DATE].min()).encode() + str(history[F.DATE].max()).encode())
    digest.update(str(len(history)).encode())
    digest.update(np.ascontiguousarray(history[F.UNITS].to_numpy(dtype=np.float32)).tobytes())
    return digest.hexdigest()[:16]
