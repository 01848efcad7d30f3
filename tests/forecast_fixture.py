"""Small forecast marts written in the layout the forecast stage uses (issue 12's interfaces):
one Parquet file per date under curated/, the hive partition column not repeated inside.

For the tests of what reads them (dbt source tests, the serving file, dashboards, the
notebook, the report) before and independently of the forecasting code: the values are
simple and known, so a test can state what it expects without running a model.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Iterable

import pyarrow as pa
import pyarrow.parquet as pq

HORIZON = 14
MODELS = ("seasonal_naive", "lightgbm")

FORECAST_SCHEMA = pa.schema([("target_date", pa.date32()), ("store_id", pa.string()),
                             ("product_id", pa.string()), ("model", pa.string()),
                             ("model_version", pa.string()), ("units", pa.float64()),
                             ("units_p10", pa.float64()), ("units_p90", pa.float64())])
LEVELS_SCHEMA = pa.schema([("target_date", pa.date32()), ("level", pa.string()),
                           ("level_key", pa.string()), ("model", pa.string()),
                           ("units", pa.float64()), ("units_p10", pa.float64()),
                           ("units_p90", pa.float64())])
ACCURACY_SCHEMA = pa.schema([("model", pa.string()), ("level", pa.string()),
                             ("against", pa.string()), ("origins", pa.int32()),
                             ("horizon_days", pa.int32()), ("wape", pa.float64()),
                             ("mase", pa.float64()), ("bias", pa.float64()),
                             ("oracle_wape", pa.float64()),
                             ("wape_ratio_to_oracle", pa.float64())])


def _write(root: Path, relative: str, rows: list[dict], schema: pa.Schema) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)
    return path


def forecast_rows(forecast_date: date, cells: Iterable[tuple[str, str]],
                  models: Iterable[str] = MODELS) -> list[dict]:
    """Bottom level: units = 1 + (product number % 5) + 0.5 * model index + 0.1 * day ahead,
    interval [0.5, 1.5] x units."""
    rows = []
    for m, model in enumerate(models):
        for store_id, product_id in cells:
            for ahead in range(1, HORIZON + 1):
                units = 1 + int(product_id[1:]) % 5 + 0.5 * m + 0.1 * ahead
                rows.append({"target_date": forecast_date + timedelta(days=ahead),
                             "store_id": store_id, "product_id": product_id, "model": model,
                             "model_version": "20240701T000000", "units": units,
                             "units_p10": 0.5 * units, "units_p90": 1.5 * units})
    return rows


def level_rows(bottom: list[dict], category: dict[str, str]) -> list[dict]:
    """The four levels, bottom-up point forecasts, interval [0.8, 1.2] x units."""
    sums: dict[tuple, float] = {}
    for row in bottom:
        cat = category[row["product_id"]]
        for level, key in (("store_category", f"{row['store_id']}|{cat}"), ("category", cat),
                           ("store", row["store_id"]), ("chain", "chain")):
            k = (row["target_date"], level, key, row["model"])
            sums[k] = sums.get(k, 0.0) + row["units"]
    return [{"target_date": d, "level": level, "level_key": key, "model": model, "units": u,
             "units_p10": 0.8 * u, "units_p90": 1.2 * u}
            for (d, level, key, model), u in sorted(sums.items())]


def write_forecast(lake_root: Path | str, forecast_date: date, cells: list[tuple[str, str]],
                   category: dict[str, str], models: Iterable[str] = MODELS,
                   level_models: Iterable[str] | None = None) -> list[dict]:
    """Both forecast marts for one forecast date, the levels for ``level_models`` (default:
    every model; the daily run writes them for its production model only); returns the
    bottom-level rows."""
    root = Path(lake_root)
    day = forecast_date.isoformat()
    bottom = forecast_rows(forecast_date, cells, tuple(models))
    kept = set(models if level_models is None else level_models)
    _write(root, f"curated/fct_demand_forecast/forecast_date={day}/forecast.parquet", bottom,
           FORECAST_SCHEMA)
    _write(root, f"curated/fct_demand_forecast_levels/forecast_date={day}/forecast.parquet",
           level_rows([r for r in bottom if r["model"] in kept], category), LEVELS_SCHEMA)
    return bottom


ACCURACY = [
    # model, level, against, wape, ratio to the oracle's
    ("oracle", "store_product", "true_demand", 0.59, 1.0),
    ("seasonal_naive", "store_product", "true_demand", 0.79, 1.34),
    ("lightgbm", "store_product", "true_demand", 0.64, 1.08),
    ("seasonal_naive", "store_category", "true_demand", 0.19, 2.35),
    ("lightgbm", "store_category", "true_demand", 0.10, 1.25),
    ("lightgbm", "store_product", "observed", 0.61, 1.05),
]


def write_accuracy(lake_root: Path | str, backtest_date: date) -> list[tuple]:
    """A backtest scores table with known numbers (ACCURACY)."""
    oracle = {level: w for model, level, against, w, _ in ACCURACY if model == "oracle"}
    rows = [{"model": model, "level": level, "against": against, "origins": 4,
             "horizon_days": HORIZON, "wape": wape, "mase": 0.9, "bias": -0.01,
             "oracle_wape": oracle.get(level, 0.08), "wape_ratio_to_oracle": ratio}
            for model, level, against, wape, ratio in ACCURACY]
    _write(Path(lake_root), f"curated/forecast_accuracy/backtest_date={backtest_date}/"
           "accuracy.parquet", rows, ACCURACY_SCHEMA)
    return ACCURACY
