"""The dbt project (``dbt_athena/``) as seen from Python: where it is, what it needs, and the
dbt-duckdb plugin it loads.

- ``DBT_PROJECT_DIR`` and ``dbt_vars()``: what a caller passes to ``dbtRunner`` (the lake
  root, and dim_date's range computed from today, so no end date is hard-coded).
- ``Plugin``: registered by the ``duckdb`` profile target, and built on first access (importing
  dbt's plugin base costs seconds; registering the pipelines must not pay it). It adds two SQL functions,
  ``retailops_make_dirs(path)`` and ``retailops_remove_dir(path)``, because DuckDB's
  ``COPY ... TO`` cannot create the parent folders of the curated Parquet files nor remove a
  day's folder, and SQL has no other way to do either.
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path
from typing import Any

import fsspec

def _project_dir() -> Path:
    """``$RETAILOPS_DBT_PROJECT_DIR`` (set in the container image), else ``./dbt_athena``, else
    the folder beside the source tree (an editable install)."""
    configured = os.environ.get("RETAILOPS_DBT_PROJECT_DIR")
    if configured:
        return Path(configured).resolve()
    if (Path.cwd() / "dbt_athena" / "dbt_project.yml").is_file():
        return (Path.cwd() / "dbt_athena").resolve()
    return Path(__file__).resolve().parents[3] / "dbt_athena"


DBT_PROJECT_DIR = _project_dir()


def calendar_range(years_ahead: int | None = None, today: date | None = None) -> tuple[date, date]:
    """First and last day of ``dim_date``: the simulation's supported range, from the first
    simulated day through Dec 31 of today's year + ``years_ahead`` (the ``calendar_years_ahead``
    parameter, default 1)."""
    from retailops.simulation.config import FIRST_DAY, last_supported_day

    return FIRST_DAY, last_supported_day(1 if years_ahead is None else years_ahead, today)


def dbt_vars(lake_root: str, run_date: str | date | None = None,
             calendar_years_ahead: int | None = None,
             today: date | None = None) -> dict[str, Any]:
    """The ``--vars`` of a run: the lake root (absolute, or s3://), the calendar's range and
    the optional day. The calendar's end moves once a year, so dbt re-parses once a year."""
    root = lake_root if "://" in lake_root else str(Path(lake_root).resolve())
    first, last = calendar_range(calendar_years_ahead, today)
    values: dict[str, Any] = {"lake_root": root.rstrip("/"), "calendar_start": first.isoformat(),
                              "calendar_end": last.isoformat()}
    if run_date is not None:
        values["run_date"] = run_date.isoformat() if isinstance(run_date, date) else run_date
    return values


def make_dirs(path: str) -> str:
    """Create a folder and its parents (a no-op on object stores); return the path."""
    protocol = path.split("://", 1)[0] if "://" in path else "file"
    fsspec.filesystem(protocol).makedirs(path, exist_ok=True)
    return path


def remove_dir(path: str) -> str:
    """Remove a folder and everything in it, if it exists; return the path."""
    protocol = path.split("://", 1)[0] if "://" in path else "file"
    filesystem = fsspec.filesystem(protocol)
    if filesystem.exists(path):
        filesystem.rm(path, recursive=True)
    return path


def _make_plugin_class() -> type:
    """The ``Plugin`` class, built on dbt-duckdb's ``BasePlugin`` when dbt first asks for it.

    Importing dbt-duckdb's plugin base imports dbt's adapter framework (1-3 s). This module is
    imported by every ``kedro`` command (its paths and vars), so the class that needs dbt is
    made only when dbt itself loads the plugin, i.e. inside a dbt invocation."""
    from dbt.adapters.duckdb.plugins import BasePlugin

    class Plugin(BasePlugin):
        """dbt-duckdb plugin: adds ``retailops_make_dirs(varchar) -> varchar`` and
        ``retailops_remove_dir(varchar) -> varchar`` (a rebuilt day's curated folder is
        replaced whole) to each connection."""

        def configure_connection(self, conn: Any) -> None:
            import duckdb

            for name, function in (("retailops_make_dirs", make_dirs),
                                   ("retailops_remove_dir", remove_dir)):
                conn.create_function(name, function, [duckdb.sqltype("VARCHAR")],
                                     duckdb.sqltype("VARCHAR"), side_effects=True)

    Plugin.__module__ = __name__
    return Plugin


def __getattr__(name: str) -> Any:
    """``Plugin`` on first access (PEP 562): dbt-duckdb's loader does
    ``getattr(import_module("retailops.warehouse.dbt_project"), "Plugin")``."""
    if name == "Plugin":
        plugin = _make_plugin_class()
        globals()["Plugin"] = plugin
        return plugin
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def release_duckdb() -> None:
    """Close the DuckDB file dbt-duckdb keeps open after an in-process ``dbtRunner`` call.

    dbt-duckdb caches one connection per process; until it is closed, opening the same file
    with another configuration (e.g. ``read_only=True``) in this process fails. Call this after
    each ``dbtRunner().invoke(...)`` before reading the warehouse.
    """
    try:
        from dbt.adapters.duckdb.connections import DuckDBConnectionManager
    except ImportError:  # pragma: no cover
        return
    with DuckDBConnectionManager._LOCK:
        environment = DuckDBConnectionManager._ENV
        if environment is not None and hasattr(environment, "close"):
            environment.close()
        DuckDBConnectionManager._ENV = None
