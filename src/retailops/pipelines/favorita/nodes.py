"""Thin Kedro nodes over ``retailops.favorita``.

Small results (cleaned dimension tables, profiles, quality results, the mart) go through the
catalog. The two big intermediate files, the staged download and the cleaned ``train``, are
written by DuckDB straight to Parquet under ``favorita.out_dir`` (streamed, never in pandas);
the nodes pass small summaries of them along so Kedro still knows the order.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from retailops.favorita import cleaning, features, kaggle_task, mart, profiling, quality, report
from retailops.favorita.availability import StageOptions, check_and_stage, require_tables
from retailops.favorita.duck import DuckSettings, connect, parquet_scan
from retailops.favorita.errors import FavoritaInputError
from retailops.favorita.loading import read_small_table
from retailops.favorita.tables import TABLES


def _data_dir(params: dict) -> str:
    data_dir = params.get("data_dir")
    if not data_dir:
        raise FavoritaInputError(
            "no Favorita download given: run with --params favorita.data_dir=PATH"
        )
    return str(data_dir)


def load_download(params: dict) -> pd.DataFrame:
    """Check which files are present, stage the usable ones as Parquet, judge them against the release."""
    # The Kaggle task's parameters are checked here, first, so a typo stops the run in a second
    # rather than after staging and cleaning 125M rows.
    kaggle_task.KaggleTaskSettings.from_params(params)
    return check_and_stage(
        _data_dir(params),
        params["out_dir"],
        DuckSettings.from_params(params),
        StageOptions.from_params(params),
    )


def require_mart_inputs(availability: pd.DataFrame, params: dict) -> dict[str, str]:
    """Staged Parquet paths; stops the run with one line if train, stores or items is unusable."""
    return require_tables(availability, _data_dir(params))


def profile_download(staged: dict[str, str], params: dict) -> pd.DataFrame:
    """pg_stats-style column profiles of every staged table."""
    with connect(DuckSettings.from_params(params)) as con:
        return profiling.profile_tables(con, staged, profiling.ProfileSettings.from_params(params))


def check_quality(staged: dict[str, str], params: dict) -> pd.DataFrame:
    """Named key, not-null, foreign-key, range and date-range checks."""
    with connect(DuckSettings.from_params(params)) as con:
        return quality.run_checks(con, staged, quality.build_checks(params))


def clean_holidays(staged: dict[str, str]) -> pd.DataFrame:
    """Holidays and events classified (empty if the file is absent)."""
    return cleaning.clean_holidays(read_small_table(staged, TABLES["holidays_events"]))


def clean_items(staged: dict[str, str]) -> pd.DataFrame:
    """Items with family, class and perishable flag."""
    return cleaning.clean_items(read_small_table(staged, TABLES["items"]))


def clean_stores(staged: dict[str, str]) -> pd.DataFrame:
    """Stores with city, state, type and cluster."""
    return cleaning.clean_stores(read_small_table(staged, TABLES["stores"]))


def clean_oil(staged: dict[str, str], holidays: pd.DataFrame, params: dict) -> pd.DataFrame:
    """Daily oil price with gaps filled (empty if the file is absent)."""
    return cleaning.clean_oil(
        read_small_table(staged, TABLES["oil"]), holidays, int(params["oil_trend_window_days"])
    )


def clean_transactions(staged: dict[str, str], stores: pd.DataFrame, params: dict) -> pd.DataFrame:
    """Daily transaction counts, validated (empty if the file is absent)."""
    return cleaning.clean_transactions(
        read_small_table(staged, TABLES["transactions"]),
        stores,
        float(params["transactions_outlier_mad_limit"]),
    )


def build_store_holidays(holidays: pd.DataFrame, stores: pd.DataFrame) -> pd.DataFrame:
    """Holiday flags per (date, store)."""
    return features.store_holidays(holidays, stores)


def clean_train(staged: dict[str, str], store_holidays: pd.DataFrame, params: dict) -> dict:
    """Stream the cleaned, feature-enriched train to Parquet; return its summary."""
    with connect(DuckSettings.from_params(params)) as con:
        return cleaning.clean_train(
            con,
            staged["train"],
            store_holidays,
            Path(params["out_dir"]) / "clean" / "train.parquet",
            features.CalendarSettings.from_params(params),
        )


def clean_test(staged: dict[str, str], store_holidays: pd.DataFrame, params: dict) -> dict:
    """Stream test.csv with train's features to Parquet (nothing if test.csv is absent)."""
    with connect(DuckSettings.from_params(params)) as con:
        return cleaning.clean_test(
            con,
            staged.get("test"),
            store_holidays,
            Path(params["out_dir"]) / "clean" / "test.parquet",
            features.CalendarSettings.from_params(params),
        )


def build_daily_sales_mart(
    train_summary: dict,
    items: pd.DataFrame,
    stores: pd.DataFrame,
    transactions: pd.DataFrame,
    oil: pd.DataFrame,
    params: dict,
) -> pd.DataFrame:
    """Date x store x family mart from the cleaned train."""
    with connect(DuckSettings.from_params(params)) as con:
        return mart.build_daily_sales_mart(con, train_summary["path"], items, stores, transactions, oil)


def score_kaggle_task(
    train_summary: dict,
    items: pd.DataFrame,
    stores: pd.DataFrame,
    store_holidays: pd.DataFrame,
    params: dict,
) -> pd.DataFrame:
    """The Kaggle task on the cleaned train: the last ``holdout_days`` forecast and scored (NWRMSLE)."""
    settings = kaggle_task.KaggleTaskSettings.from_params(params)
    if not settings.enabled:
        return kaggle_task.empty_scores("favorita.kaggle_task.enabled is false")
    calendar = features.CalendarSettings.from_params(params)
    with connect(DuckSettings.from_params(params)) as con:
        return kaggle_task.run_task(
            con,
            parquet_scan(train_summary["path"]),
            items,
            stores,
            store_holidays,
            settings,
            calendar.payday_day_of_month,
        )


def build_report(
    availability: pd.DataFrame,
    quality_results: pd.DataFrame,
    profile: pd.DataFrame,
    daily_sales: pd.DataFrame,
    oil: pd.DataFrame,
    train_summary: dict,
    kaggle_scores: pd.DataFrame,
    params: dict,
) -> str:
    """The self-contained HTML report."""
    return report.render_report(
        availability,
        quality_results,
        profile,
        daily_sales,
        oil,
        train_summary,
        features.CalendarSettings.from_params(params),
        kaggle_scores,
    )
