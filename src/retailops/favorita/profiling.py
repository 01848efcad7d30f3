"""Column statistics per table, in the spirit of PostgreSQL's ``pg_stats``.

For every column: the fraction of nulls, the number of distinct values, the most common values
with their frequencies (as fractions of all rows, as ``pg_stats`` gives them), min and max, and
the correlation between the rows' physical order and the order of their values (1 = the file is
sorted by this column, 0 = no relation, -1 = sorted descending).

Exact where it is cheap on a columnar scan (nulls, min/max, most-common lists of columns with a
bounded number of values); estimated where exactness would hold a huge hash table (distinct count
of a 100M-row key: HyperLogLog past ``exact_distinct_max_rows``) or sort the whole table
(correlation, computed like PostgreSQL's ANALYZE on a reservoir sample of rows).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import duckdb
import pandas as pd

from retailops.favorita.duck import parquet_scan

PROFILE_COLUMNS = [
    "table",
    "column",
    "data_type",
    "rows",
    "null_frac",
    "n_distinct",
    "n_distinct_exact",
    "distinct_frac",
    "most_common_vals",
    "most_common_freqs",
    "min",
    "max",
    "correlation",
    "correlation_sample_rows",
]


@dataclass(frozen=True)
class ProfileSettings:
    """How much work profiling may do per column."""

    mcv_size: int = 10
    # Columns with more distinct values than this get no most-common list (a near-unique column's
    # "most common" values are noise, and grouping 100M keys is the expensive part of profiling).
    mcv_max_distinct: int = 1_000_000
    exact_distinct_max_rows: int = 20_000_000
    correlation_sample_rows: int = 100_000
    seed: int = 42

    @classmethod
    def from_params(cls, params: dict) -> "ProfileSettings":
        """Build from the ``favorita.profiling`` parameters block."""
        block = params.get("profiling", {}) or {}
        return cls(**{key: int(value) for key, value in block.items()})


def profile_table(
    con: duckdb.DuckDBPyConnection, table: str, parquet_path: str, settings: ProfileSettings
) -> pd.DataFrame:
    """``pg_stats``-style rows for every column of one staged table."""
    source = parquet_scan(parquet_path)
    described = con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()
    columns = [(name, kind) for name, kind, *_ in described]
    total = con.execute(f"SELECT count(*) FROM {source}").fetchall()[0][0]
    exact = total <= settings.exact_distinct_max_rows
    distinct_fn = "count(DISTINCT {c})" if exact else "approx_count_distinct({c})"
    aggregates = ", ".join(
        f"count({q}), {distinct_fn.format(c=q)}, min({q})::VARCHAR, max({q})::VARCHAR"
        for q in (quote_ident(name) for name, _ in columns)
    )
    values = con.execute(f"SELECT {aggregates} FROM {source}").fetchall()[0] if columns else ()
    correlations = _order_correlations(con, parquet_path, [name for name, _ in columns], settings)
    rows = []
    for index, (name, kind) in enumerate(columns):
        non_null, n_distinct, minimum, maximum = values[4 * index : 4 * index + 4]
        mcv_vals, mcv_freqs = _most_common(con, source, name, total, n_distinct, settings)
        rows.append(
            {
                "table": table,
                "column": name,
                "data_type": kind,
                "rows": int(total),
                "null_frac": (total - non_null) / total if total else 0.0,
                "n_distinct": int(n_distinct),
                "n_distinct_exact": exact,
                "distinct_frac": n_distinct / total if total else 0.0,
                "most_common_vals": json.dumps(mcv_vals),
                "most_common_freqs": json.dumps(mcv_freqs),
                "min": minimum,
                "max": maximum,
                "correlation": correlations.get(name),
                "correlation_sample_rows": min(int(total), settings.correlation_sample_rows),
            }
        )
    return pd.DataFrame(rows, columns=PROFILE_COLUMNS)


def _most_common(
    con: duckdb.DuckDBPyConnection,
    source: str,
    column: str,
    total: int,
    n_distinct: int,
    settings: ProfileSettings,
) -> tuple[list[str], list[float]]:
    """Top values by frequency; none when the column is (nearly) unique, as ``pg_stats`` does."""
    if total == 0 or n_distinct == 0 or n_distinct > settings.mcv_max_distinct:
        return [], []
    q = quote_ident(column)
    top = con.execute(
        f"SELECT {q}::VARCHAR, count(*) AS n FROM {source} WHERE {q} IS NOT NULL "
        f"GROUP BY {q} ORDER BY n DESC, {q} LIMIT {int(settings.mcv_size)}"
    ).fetchall()
    if top and top[0][1] == 1:
        # Every value occurs once: no value is more common than another.
        return [], []
    return [value for value, _ in top], [round(count / total, 6) for _, count in top]


def _order_correlations(
    con: duckdb.DuckDBPyConnection, parquet_path: str, columns: list[str], settings: ProfileSettings
) -> dict[str, float | None]:
    """Spearman correlation of physical row position with value rank, on a reservoir sample."""
    if not columns:
        return {}
    source = parquet_scan(parquet_path, with_row_number=True)
    sample = (
        f"SELECT * FROM {source} USING SAMPLE reservoir({int(settings.correlation_sample_rows)} ROWS) "
        f"REPEATABLE ({int(settings.seed)})"
    )
    # Ties share their average rank so a column of equal values stays uncorrelated, not noisy.
    ranks = ", ".join(
        f"CASE WHEN {quote_ident(c)} IS NOT NULL THEN "
        f"(2 * rank() OVER (ORDER BY {quote_ident(c)}) "
        f"+ count(*) OVER (PARTITION BY {quote_ident(c)}) - 1) / 2.0 END AS {quote_ident('r_' + c)}"
        for c in columns
    )
    correlations = ", ".join(
        f"corr(position_rank, {quote_ident('r_' + c)})" for c in columns
    )
    # NULLs are left out of each column's correlation, as ANALYZE does.
    result = con.execute(
        f"WITH sample AS ({sample}), ranked AS ("
        f"SELECT rank() OVER (ORDER BY file_row_number) AS position_rank, {ranks} FROM sample) "
        f"SELECT {correlations} FROM ranked"
    ).fetchall()[0]
    return {
        column: (None if value is None or value != value else round(float(value), 6))
        for column, value in zip(columns, result)
    }


def quote_ident(name: str) -> str:
    """A double-quoted SQL identifier (``class`` and ``type`` are column names here)."""
    return '"' + name.replace('"', '""') + '"'


def profile_tables(
    con: duckdb.DuckDBPyConnection, staged: dict[str, str], settings: ProfileSettings
) -> pd.DataFrame:
    """Profiles of every staged table, one row per column."""
    frames = [profile_table(con, table, path, settings) for table, path in staged.items()]
    if not frames:
        return pd.DataFrame(columns=PROFILE_COLUMNS)
    return pd.concat(frames, ignore_index=True)

