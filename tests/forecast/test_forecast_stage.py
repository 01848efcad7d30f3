"""The forecast stage as a user runs it (``kedro run --pipelines forecast`` as a separate process)
on a small chain landed and published for nine weeks: both marts written with the contract's
columns, models trained once and then only loaded, versioned in the lake, tracked in MLflow;
the short-history message; and the same reading and writing against S3 (moto's server)."""

from __future__ import annotations

import json
import sqlite3
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml

from retailops.forecast import artifacts
from retailops.forecast.data import ParquetMarts, load_context, load_history
from retailops.lake.storage import Lake
from tests.conftest import run_kedro
from tests.platform_fixture import make_project

FIRST, LAST = date(2024, 7, 1), date(2024, 9, 1)     # nine weeks, a Monday to a Sunday
SCALE = "0.01"
MODELS = ["seasonal_naive", "intermittent", "lightgbm"]
HORIZON = 14


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A landed, validated and published chain, with the forecast parameters made small."""
    root = tmp_path_factory.mktemp("forecast") / "project"
    conf, lake = make_project(root)
    landed = run_kedro("run", "--conf-source", str(conf), "--pipelines",
                       "ingest,transform,validate,publish", "--params",
                       f"start_date={FIRST},end_date={LAST},scale={SCALE}", timeout=600)
    assert landed.returncode == 0, landed.stderr[-3000:]
    params_file = conf / "base" / "parameters_forecast.yml"
    params = yaml.safe_load(params_file.read_text())
    params["forecast"]["lightgbm"].update(num_boost_round=20, max_rows=100_000)
    params["forecast"]["mlflow"]["tracking_uri"] = f"sqlite:///{root / 'mlflow' / 'mlflow.db'}"
    params_file.write_text(yaml.safe_dump(params))
    return {"root": root, "conf": conf, "lake": lake,
            "production": params["forecast"]["production_model"]}


def forecast(project, *params: str):
    args = ["run", "--conf-source", str(project["conf"]), "--pipelines", "forecast"]
    if params:
        args += ["--params", ",".join(params)]
    return run_kedro(*args, cwd=project["root"], timeout=600)


def summary(project) -> dict:
    return json.loads((project["lake"] / "metadata/runs/forecast/latest.json").read_text())


@pytest.fixture(scope="module")
def first_run(project):
    run = forecast(project)
    assert run.returncode == 0, run.stderr[-3000:]
    return {"run": run, "summary": summary(project)}


def test_the_first_run_trains_every_model_and_writes_both_marts(project, first_run):
    assert {m: s["trained"] for m, s in first_run["summary"]["models"].items()} == \
        {m: True for m in MODELS}
    lake = project["lake"]
    dims = pq.read_table(lake / "curated/dim_products/dim_products.parquet").to_pandas()
    stores = pq.read_table(lake / "curated/dim_stores/dim_stores.parquet").to_pandas()
    bottom_file = lake / f"curated/fct_demand_forecast/forecast_date={LAST}/forecast.parquet"
    bottom = pq.read_table(bottom_file)
    assert bottom.schema.names == ["target_date", "store_id", "product_id", "model",
                                   "model_version", "units", "units_p10", "units_p90"]
    assert str(bottom.schema.field("target_date").type) == "date32[day]"
    frame = bottom.to_pandas()
    # every store x product x model x the 14 days after the forecast date
    assert len(frame) == len(stores) * len(dims) * len(MODELS) * HORIZON
    assert sorted(frame["target_date"].unique()) == [LAST + timedelta(days=d)
                                                     for d in range(1, HORIZON + 1)]
    assert (frame["units_p10"] <= frame["units"] + 1e-9).all()
    assert (frame["units"] <= frame["units_p90"] + 1e-9).all()
    assert frame["units"].ge(0).all() and frame.groupby("model")["units"].sum().gt(0).all()

    levels = pq.read_table(
        lake / f"curated/fct_demand_forecast_levels/forecast_date={LAST}/forecast.parquet")
    assert levels.schema.names == ["target_date", "level", "level_key", "model", "units",
                                   "units_p10", "units_p90"]
    levels = levels.to_pandas()
    assert set(levels["level"]) == {"store_category", "category", "store", "chain"}
    # bottom-up: the chain is the sum of the production model's bottom level, day by day
    # (the production model is configuration: conf/base/parameters_forecast.yml)
    model = project["production"]
    assert set(levels["model"]) == {model}
    production = frame[frame["model"] == model].groupby("target_date")["units"].sum()
    chain = levels[levels["level"] == "chain"].set_index("target_date")["units"]
    np.testing.assert_allclose(chain.sort_index().to_numpy(), production.sort_index().to_numpy(),
                               rtol=1e-9)
    # intervals are the level's own, not sums of the bottom intervals (those are far wider)
    summed_p90 = frame[frame["model"] == model].groupby("target_date")["units_p90"].sum()
    chain_p90 = levels[levels["level"] == "chain"].set_index("target_date")["units_p90"]
    assert (chain_p90.sort_index().to_numpy() < summed_p90.sort_index().to_numpy()).all()
    assert set(levels[levels["level"] == "store_category"]["level_key"]) == {
        f"{s}|{c}" for s in stores["store_id"] for c in dims["category"].unique()}


def test_trained_models_are_versioned_in_the_lake_and_tracked_in_mlflow(project, first_run):
    lake = Lake(str(project["lake"]))
    for model in MODELS:
        stored = artifacts.latest(lake, model)
        assert stored is not None and stored.version.startswith(f"{LAST}_")
        assert stored.training["window"] == {"first_day": str(FIRST), "last_day": str(LAST),
                                             "days": (LAST - FIRST).days + 1}
        assert len(stored.training["data_fingerprint"]) == 16
        assert (project["lake"] / "metadata/models/forecast" / model / stored.version
                / "model.pkl").is_file()
    with sqlite3.connect(project["root"] / "mlflow" / "mlflow.db") as db:
        runs = db.execute("select name from runs").fetchall()
        metrics = {k for (k,) in db.execute("select distinct key from metrics")}
    assert sorted(n for (n,) in runs if n.startswith("train ")) == sorted(
        f"train {m} {artifacts.latest(lake, m).version}" for m in MODELS)
    assert {"fit_seconds", "dispersion_a_chain"} <= metrics


def test_a_run_on_the_same_history_only_loads_and_predicts(project, first_run):
    lake = Lake(str(project["lake"]))
    before = {m: artifacts.versions(lake, m) for m in MODELS}
    run = forecast(project)
    assert run.returncode == 0, run.stderr[-3000:]
    again = summary(project)
    assert {m: s["trained"] for m, s in again["models"].items()} == {m: False for m in MODELS}
    assert {m: artifacts.versions(lake, m) for m in MODELS} == before
    # a day that only predicts asks for the models' lookback (intermittent's 112 days and the
    # censoring margin of 2 x 28 + 7), not history_days (364); the first run trained on all
    assert first_run["summary"]["history"]["days_asked"] == 364
    assert again["history"]["days_asked"] == 112 + 63
    assert again["history"]["why"] == "every model is stored and fresh: predict only"
    # the loaded model predicts what the freshly trained one did
    first = first_run["summary"]["models"]["lightgbm"]["version"]
    assert again["models"]["lightgbm"]["version"] == first


def test_retraining_is_due_weekly_or_on_request(project, first_run):
    lake = Lake(str(project["lake"]))
    run = forecast(project, "forecast.retrain=true", "forecast.models=[seasonal_naive]",
                   "forecast.production_model=seasonal_naive")
    assert run.returncode == 0, run.stderr[-3000:]
    assert summary(project)["models"]["seasonal_naive"]["trained"] is True
    assert len(artifacts.versions(lake, "seasonal_naive")) == 2
    stored = artifacts.latest(lake, "seasonal_naive")
    last_monday = LAST - timedelta(days=LAST.weekday())
    # the schedule itself: retrain on the weekday, when 7 days old, or without a model
    assert artifacts.is_due(None, LAST, 0)[0]
    assert not artifacts.is_due(stored, LAST, 0)[0]                          # trained today
    assert artifacts.is_due(stored, last_monday + timedelta(days=7), 0)[0]   # Monday
    assert not artifacts.is_due(stored, LAST + timedelta(days=3), 0)[0]      # Wednesday
    assert artifacts.is_due(stored, LAST + timedelta(days=7), 3)[0]          # a week old


def test_too_little_history_says_how_much_is_needed(project, first_run):
    short_day = FIRST + timedelta(days=20)
    run = forecast(project, f"forecast.last_day={short_day}")
    assert run.returncode == 2
    assert ("retailops: error: forecast needs at least 56 days of sales history in the marts; "
            f"they hold 21 days ({FIRST}..{short_day})") in run.stderr
    skipped = forecast(project, f"forecast.last_day={short_day}",
                       "forecast.when_history_short=skip")
    assert skipped.returncode == 0, skipped.stderr[-3000:]
    assert "forecast skipped: forecast needs at least 56 days" in skipped.stdout + skipped.stderr
    assert not (project["lake"] / "curated/fct_demand_forecast"
                / f"forecast_date={short_day}").exists()


def test_history_and_marts_on_s3(project, first_run, aws_env):
    """The curated Parquet read from S3 gives the history the local files give; the marts and
    a model version written to S3 through the lake read back."""
    import boto3

    from retailops.forecast.run import write_mart

    s3 = boto3.client("s3", endpoint_url=aws_env["AWS_ENDPOINT_URL"])
    s3.create_bucket(Bucket="forecast-lake")
    local_root = project["lake"]
    for path in (local_root / "curated").rglob("*.parquet"):
        if path.parts[-3] in ("fct_daily_sales", "fct_inventory_snapshots") \
                and path.parent.name.split("=")[-1] < str(LAST - timedelta(days=13)):
            continue  # the last fortnight of facts is enough here
        s3.upload_file(str(path), "forecast-lake", str(path.relative_to(local_root)))
    options = {"client_kwargs": {"endpoint_url": aws_env["AWS_ENDPOINT_URL"]}}
    remote = Lake("s3://forecast-lake", options)
    first = LAST - timedelta(days=13)
    local_reader, remote_reader = ParquetMarts(Lake(str(local_root))), ParquetMarts(remote)
    context = load_context(remote_reader)
    pd.testing.assert_frame_equal(load_history(remote_reader, first, LAST, context),
                                  load_history(local_reader, first, LAST,
                                               load_context(local_reader)))
    assert remote_reader.sales_days() == (first, LAST)

    rows = pd.DataFrame({"forecast_date": [pd.Timestamp(LAST)] * 2,
                         "target_date": [pd.Timestamp(LAST + timedelta(days=1))] * 2,
                         "level": ["chain", "store"], "level_key": ["chain", "ST001"],
                         "model": ["lightgbm"] * 2, "units": [10.0, 4.0],
                         "units_p10": [8.0, 2.0], "units_p90": [12.0, 6.0]})
    (path,) = write_mart(remote, "fct_demand_forecast_levels", rows)
    assert path == f"curated/fct_demand_forecast_levels/forecast_date={LAST}/forecast.parquet"
    import io

    back = pq.read_table(io.BytesIO(remote.read_bytes(path)))
    assert back.schema.names == ["target_date", "level", "level_key", "model", "units",
                                 "units_p10", "units_p90"]
    stored = artifacts.save(remote, "seasonal_naive", {"a": 1},
                            {"window": {"first_day": str(first), "last_day": str(LAST)}})
    assert artifacts.latest(remote, "seasonal_naive") == stored
    assert artifacts.load(remote, stored) == {"a": 1}
