"""The forecast marts as readers see them: their names, where they lie in the lake and their
columns (the layout fixed by issue 12; the forecast stage writes them with pyarrow, not dbt).

Readers (the serving file, dashboards, the notebook, the executive summary) need the same
columns whether or not a forecast was written yet: a fresh lake has none, and a daily run
with too little history writes none. ``empty_select`` gives each table as a typed query with
no rows, so a view over "no forecast yet" still has its columns.
"""

from __future__ import annotations

from dataclasses import dataclass

# (name, DuckDB type). The partition column comes first, as hive partitioning exposes it;
# the file itself holds the rest (the partition is not repeated inside the file).
FORECAST = (("forecast_date", "DATE"), ("target_date", "DATE"), ("store_id", "VARCHAR"),
            ("product_id", "VARCHAR"), ("model", "VARCHAR"), ("model_version", "VARCHAR"),
            ("units", "DOUBLE"), ("units_p10", "DOUBLE"), ("units_p90", "DOUBLE"))
FORECAST_LEVELS = (("forecast_date", "DATE"), ("target_date", "DATE"), ("level", "VARCHAR"),
                   ("level_key", "VARCHAR"), ("model", "VARCHAR"), ("units", "DOUBLE"),
                   ("units_p10", "DOUBLE"), ("units_p90", "DOUBLE"))
ACCURACY = (("backtest_date", "DATE"), ("model", "VARCHAR"), ("level", "VARCHAR"),
            ("against", "VARCHAR"), ("origins", "INTEGER"), ("horizon_days", "INTEGER"),
            ("wape", "DOUBLE"), ("mase", "DOUBLE"), ("bias", "DOUBLE"),
            ("oracle_wape", "DOUBLE"), ("wape_ratio_to_oracle", "DOUBLE"))

FILE_NAMES = {"fct_demand_forecast": "forecast.parquet",
              "fct_demand_forecast_levels": "forecast.parquet",
              "forecast_accuracy": "accuracy.parquet"}


@dataclass(frozen=True)
class ForecastMart:
    """One forecast mart: its table name, hive partition column and typed columns."""

    name: str
    partition: str
    columns: tuple[tuple[str, str], ...]

    def folder(self) -> str:
        """The mart's folder, relative to the lake root."""
        return f"curated/{self.name}"

    def path(self, day: str) -> str:
        """One partition's file, relative to the lake root."""
        return f"{self.folder()}/{self.partition}={day}/{FILE_NAMES[self.name]}"

    def file_columns(self) -> tuple[tuple[str, str], ...]:
        """The columns inside each file (the partition column is in the path only)."""
        return tuple(c for c in self.columns if c[0] != self.partition)

    def empty_select(self) -> str:
        """The table's columns, typed, with no rows."""
        return "select " + ", ".join(f"cast(null as {kind}) as {name}"
                                     for name, kind in self.columns) + " where false"


FORECAST_MARTS = (
    ForecastMart("fct_demand_forecast", "forecast_date", FORECAST),
    ForecastMart("fct_demand_forecast_levels", "forecast_date", FORECAST_LEVELS),
    ForecastMart("forecast_accuracy", "backtest_date", ACCURACY),
)
MARTS_BY_NAME = {mart.name: mart for mart in FORECAST_MARTS}
