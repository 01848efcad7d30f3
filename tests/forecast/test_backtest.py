"""The rolling-origin backtest, run as a user runs it (``kedro run --pipelines forecast_backtest``
on a small landed chain), checked against an independent computation from the raw sale CSVs and
the truth files; and, in process, that no forecast sees data after its origin."""

from __future__ import annotations

import glob
import json
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml

from retailops.errors import InvalidParameterError
from retailops.forecast.backtest import BacktestConfig, backtest_origins, run_backtest
from retailops.forecast.frames import ForecastContext
from retailops.forecast.models import forecasters
from retailops.forecast.truth import read_truth
from retailops.lake.promotions import read_plan
from retailops.lake.storage import Lake
from tests.conftest import run_kedro
from tests.platform_fixture import make_project

FIRST, LAST = date(2024, 7, 1), date(2024, 8, 25)
SCALE = "0.01"
BACKTEST = {"origins": 4, "step_days": 3, "horizon": 14, "min_history_days": 28,
            "refit_every": 1}
MODELS = ["seasonal_naive", "intermittent"]
LEVELS = ("store_product", "store_category", "category", "store", "chain")


@pytest.fixture(scope="module")
def backtested(tmp_path_factory):
    """A chain landed and published for 8 weeks, then backtested by the kedro pipeline."""
    project = tmp_path_factory.mktemp("backtest") / "project"
    conf, lake = make_project(project)
    landed = run_kedro("run", "--conf-source", str(conf), "--pipelines",
                       "ingest,transform,validate,publish", "--params",
                       f"start_date={FIRST},end_date={LAST},scale={SCALE}", timeout=600)
    assert landed.returncode == 0, landed.stderr[-3000:]
    params_file = conf / "base" / "parameters_forecast_backtest.yml"
    params = yaml.safe_load(params_file.read_text())
    params["backtest"].update(BACKTEST, models=MODELS, direct_models=["intermittent"])
    params["backtest"]["mlflow"]["tracking_uri"] = f"sqlite:///{project / 'mlflow.db'}"
    params_file.write_text(yaml.safe_dump(params))
    run = run_kedro("run", "--conf-source", str(conf), "--pipelines", "forecast_backtest",
                    timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    details = lake / "metadata" / "backtests" / f"backtest_date={LAST}"
    return {
        "project": project, "lake": lake, "run": run,
        "accuracy": pd.read_parquet(lake / "curated" / "forecast_accuracy"
                                    / f"backtest_date={LAST}" / "accuracy.parquet"),
        "forecasts": pd.read_parquet(details / "forecasts.parquet"),
        "summary": json.loads((details / "summary.json").read_text()),
    }


# --- the independent computation: raw CSVs and truth files, plain pandas ------------------------

def _observed_sales(lake: Path) -> pd.DataFrame:
    frames = [pd.read_csv(path, dtype={"store_id": str, "product_id": str})
              for path in sorted(glob.glob(str(lake / "raw" / "sales" / "dt=*" / "sales.csv")))]
    sales = pd.concat(frames, ignore_index=True)
    observed = sales.groupby(["store_id", "product_id", "dt"], as_index=False)["quantity"].sum()
    return observed.rename(columns={"dt": "date", "quantity": "observed"}).assign(
        date=lambda f: pd.to_datetime(f["date"]))


def _truth(lake: Path) -> pd.DataFrame:
    frames = []
    for path in sorted(glob.glob(str(lake / "metadata" / "truth" / "dt=*" / "demand.parquet"))):
        table = pq.read_table(path).to_pandas()
        frames.append(pd.DataFrame({
            "store_id": table["store_id"].astype(str), "product_id": table["product_id"].astype(str),
            "date": pd.Timestamp(path.split("dt=")[1][:10]),
            "expected": table["expected_units"].astype(float),
            "demanded": table["demanded_units"].astype(float)}))
    return pd.concat(frames, ignore_index=True)


def _key(frame: pd.DataFrame, level: str, category: pd.Series) -> pd.Series:
    cat = frame["product_id"].map(category)
    return {"store_product": frame["store_id"] + "|" + frame["product_id"],
            "store_category": frame["store_id"] + "|" + cat,
            "category": cat, "store": frame["store_id"],
            "chain": pd.Series("chain", index=frame.index)}[level]


def _independent_scores(lake: Path, forecasts: pd.DataFrame) -> pd.DataFrame:
    products = pd.read_csv(lake / "raw" / "products" / "products.csv", dtype=str)
    category = products.set_index("product_id")["category"]
    truth = _truth(lake)
    observed = _observed_sales(lake)
    cells = truth.merge(observed, on=["store_id", "product_id", "date"], how="left")
    cells["observed"] = cells["observed"].fillna(0.0)
    forecasts = forecasts.assign(
        store_id=forecasts["store_id"].astype(str), product_id=forecasts["product_id"].astype(str),
        target_date=pd.to_datetime(forecasts["target_date"]),
        origin=pd.to_datetime(forecasts["origin"]), model=forecasts["model"].astype(str))
    origins = sorted(forecasts["origin"].unique())
    rows = []
    for level in LEVELS:
        cells["key"] = _key(cells, level, category)
        daily = cells.groupby(["key", "date"])[["observed", "demanded"]].sum()
        # seasonal-naive scale per series and origin: mean |y_t - y_{t-7}| of observed sales
        wide = daily["observed"].unstack("date").fillna(0.0)
        scales = {}
        for origin in origins:
            upto = wide.loc[:, wide.columns <= origin].to_numpy()
            scales[origin] = pd.Series(np.abs(upto[:, 7:] - upto[:, :-7]).mean(axis=1),
                                       index=wide.index)
        for model in forecasts["model"].unique():
            mine = forecasts[forecasts["model"] == model].copy()
            mine["key"] = _key(mine, level, category)
            summed = mine.groupby(["origin", "key", "target_date"])["units"].sum().reset_index()
            summed = summed.merge(daily.reset_index().rename(columns={"date": "target_date"}),
                                  on=["key", "target_date"])
            summed["scale"] = [scales[o][k] for o, k in zip(summed["origin"], summed["key"])]
            for against, column in (("observed", "observed"), ("true_demand", "demanded")):
                error = summed["units"] - summed[column]
                rows.append({"model": model, "level": level, "against": against,
                             "wape": error.abs().sum() / summed[column].sum(),
                             "bias": error.sum() / summed[column].sum(),
                             "mase": error.abs().sum() / summed["scale"].sum()})
    return pd.DataFrame(rows)


# --- the pipeline's figures ---------------------------------------------------------------------

def test_pipeline_metrics_equal_an_independent_computation(backtested):
    got = backtested["accuracy"]
    expected = _independent_scores(backtested["lake"], backtested["forecasts"])
    assert set(got["model"]) == {*MODELS, "oracle"}
    assert len(got) == len(expected) == (len(MODELS) + 1) * len(LEVELS) * 2
    both = got.merge(expected, on=["model", "level", "against"], suffixes=("", "_expected"))
    assert len(both) == len(got)
    for metric in ("wape", "bias", "mase"):
        np.testing.assert_allclose(both[metric], both[f"{metric}_expected"], rtol=1e-9,
                                   err_msg=metric)
    for (level, against), group in got.groupby(["level", "against"]):
        oracle_wape = group.loc[group["model"] == "oracle", "wape"].iloc[0]
        np.testing.assert_allclose(group["oracle_wape"], oracle_wape)
        np.testing.assert_allclose(group["wape_ratio_to_oracle"], group["wape"] / oracle_wape)


def test_the_accuracy_table_has_the_interface_schema(backtested):
    path = (backtested["lake"] / "curated" / "forecast_accuracy" / f"backtest_date={LAST}"
            / "accuracy.parquet")
    schema = pq.read_schema(path)
    assert [(f.name, str(f.type)) for f in schema] == [
        ("model", "string"), ("level", "string"), ("against", "string"), ("origins", "int32"),
        ("horizon_days", "int32"), ("wape", "double"), ("mase", "double"), ("bias", "double"),
        ("oracle_wape", "double"), ("wape_ratio_to_oracle", "double")]
    accuracy = backtested["accuracy"]
    assert set(accuracy["origins"]) == {4} and set(accuracy["horizon_days"]) == {14}
    assert set(accuracy["against"]) == {"observed", "true_demand"}


def test_the_oracle_has_the_lowest_squared_error_against_true_demand(backtested):
    forecasts = backtested["forecasts"].assign(
        store_id=lambda f: f["store_id"].astype(str), product_id=lambda f: f["product_id"].astype(str),
        target_date=lambda f: pd.to_datetime(f["target_date"]), model=lambda f: f["model"].astype(str))
    truth = _truth(backtested["lake"]).rename(columns={"date": "target_date"})
    scored = forecasts.merge(truth, on=["store_id", "product_id", "target_date"])
    mse = ((scored["units"] - scored["demanded"]) ** 2).groupby(scored["model"]).mean()
    assert set(mse.index) == {*MODELS, "oracle"}
    assert mse.idxmin() == "oracle", mse.to_dict()


def test_at_least_four_origins_each_forecasting_the_fourteen_days_after_it(backtested):
    forecasts = backtested["forecasts"]
    origins = sorted(pd.to_datetime(forecasts["origin"]).unique())
    assert len(origins) == 4
    assert [o.date() for o in origins] == [LAST - timedelta(days=14 + 3 * i) for i in (3, 2, 1, 0)]
    lead = (pd.to_datetime(forecasts["target_date"]) - pd.to_datetime(forecasts["origin"])).dt.days
    assert lead.min() == 1 and lead.max() == 14
    summary = backtested["summary"]
    assert summary["origins"] == [o.date().isoformat() for o in origins]
    assert all(n == 0 for n in summary["missing_forecasts"].values())


def test_the_run_is_tracked_in_mlflow(backtested):
    import mlflow

    client = mlflow.MlflowClient(f"sqlite:///{backtested['project'] / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("forecast_backtest")
    (run,) = client.search_runs([experiment.experiment_id])
    wape = backtested["accuracy"].set_index(["model", "level", "against"])["wape"]
    assert run.data.metrics["seasonal_naive.store_product.true_demand.wape"] == pytest.approx(
        wape["seasonal_naive", "store_product", "true_demand"])
    assert run.data.params["origins"] == "4"
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"accuracy.csv", "reconciliation.csv", "summary.json"} <= artifacts


# --- in process: no peeking, refits, too little history -----------------------------------------

def _raw_history(lake: Path) -> tuple[pd.DataFrame, ForecastContext]:
    """A dense history built straight from the raw CSVs (not through the forecast loader)."""
    observed = _observed_sales(lake)
    products = pd.read_csv(lake / "raw" / "products" / "products.csv", dtype={"product_id": str})
    stores = pd.read_csv(lake / "raw" / "stores" / "stores.csv", dtype={"store_id": str})
    index = pd.MultiIndex.from_product(
        [stores["store_id"], products["product_id"], pd.date_range(FIRST, LAST)],
        names=["store_id", "product_id", "date"])
    units = observed.set_index(["store_id", "product_id", "date"])["observed"].reindex(
        index, fill_value=0).astype(float)
    history = units.rename("units").reset_index()
    context = ForecastContext(products=products, stores=stores)
    return history, context


def test_no_forecast_uses_data_after_its_origin(backtested):
    lake = Lake(str(backtested["lake"]))
    history, context = _raw_history(backtested["lake"])
    config = BacktestConfig(**BACKTEST)
    origins = backtest_origins(FIRST, LAST, config)
    truth = read_truth(lake, origins[0] + timedelta(days=1), LAST)
    models = forecasters({"models": MODELS})

    def backtest(frame):
        return run_backtest(frame, truth, models, lambda o: read_plan(lake, o), context,
                            context.category_of(), config).forecasts

    clean = backtest(history)
    poisoned_history = history.copy()
    after = poisoned_history["date"] > pd.Timestamp(origins[1])
    poisoned_history.loc[after, "units"] = 1000.0
    poisoned = backtest(poisoned_history)
    model = clean["model"] != "oracle"
    for origin in origins[:2]:
        at = model & (clean["origin"] == pd.Timestamp(origin))
        pd.testing.assert_frame_equal(clean[at].reset_index(drop=True),
                                      poisoned[at].reset_index(drop=True))
    # the poison reaches every later origin: the comparison above could have failed
    later = model & (clean["origin"] == pd.Timestamp(origins[2]))
    assert not np.allclose(clean.loc[later, "units"], poisoned.loc[later, "units"])


def test_refit_every_k_origins_fits_less_often(backtested):
    lake = Lake(str(backtested["lake"]))
    history, context = _raw_history(backtested["lake"])
    config = BacktestConfig(**{**BACKTEST, "refit_every": 2})
    origins = backtest_origins(FIRST, LAST, config)
    truth = read_truth(lake, origins[0] + timedelta(days=1), LAST)
    result = run_backtest(history, truth, forecasters({"models": ["seasonal_naive"]}),
                          lambda o: read_plan(lake, o), context, context.category_of(), config)
    assert result.seconds["seasonal_naive"]["fits"] == 2
    assert len(result.origins) == 4


def test_too_little_history_is_one_clear_line():
    with pytest.raises(InvalidParameterError, match=r"needs 51 days of history .* has 30"):
        backtest_origins(date(2024, 7, 1), date(2024, 7, 30), BacktestConfig(**BACKTEST))
    with pytest.raises(InvalidParameterError, match="at least 4 origins"):
        BacktestConfig(origins=3)
