"""The Kaggle task: the competition's metric by hand, the node on a generated download, bad parameters."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from favorita_fixtures import kedro_favorita_cli, run_favorita, write_download

from retailops.errors import InvalidParameterError
from retailops.favorita.kaggle_task import KaggleTaskSettings, nwrmsle

# --- the metric ----------------------------------------------------------------------------------


def test_nwrmsle_matches_a_hand_computed_example():
    # Five rows, worked out by hand:
    #   actual  forecast  perishable  weight  ln(f+1) - ln(a+1)          squared x weight
    #   3       1         yes         1.25    ln 2 - ln 4 = -ln 2        1.25 (ln 2)^2 = 0.600566
    #   -2      0         no          1.00    a return: actual is 0 -> 0  0
    #   0       -5        yes         1.25    forecast clipped to 0 -> 0  0
    #   0       e - 1     no          1.00    ln e - ln 1 = 1            1
    #   9       9         no          1.00    0                          0
    # sum of weights 5.5; NWRMSLE = sqrt(1.600566 / 5.5) = sqrt(0.291012) = 0.539455
    actual = [3, -2, 0, 0, 9]
    forecast = [1, 0, -5, math.e - 1, 9]
    perishable = [1, 0, 1, 0, 0]
    assert nwrmsle(actual, forecast, perishable) == pytest.approx(0.539455, abs=1e-6)
    assert nwrmsle(actual, forecast, perishable) == pytest.approx(
        math.sqrt((1.25 * math.log(2) ** 2 + 1.0) / 5.5), rel=1e-12)


def test_nwrmsle_weights_perishable_items_and_a_perfect_forecast_scores_zero():
    # One error of 1 in log space on a perishable row among two rows: sqrt(1.25 / 2.25).
    assert nwrmsle([0, 5], [math.e - 1, 5], [True, False]) == pytest.approx(math.sqrt(1.25 / 2.25))
    # The same error on the non-perishable row: sqrt(1 / 2.25).
    assert nwrmsle([5, 0], [5, math.e - 1], [True, False]) == pytest.approx(math.sqrt(1 / 2.25))
    assert nwrmsle([1.5, 0, 7], [1.5, 0, 7], [0, 1, 0]) == 0.0


# --- parameters ----------------------------------------------------------------------------------


def test_defaults_are_the_competition_horizon():
    settings = KaggleTaskSettings.from_params({})
    assert settings.holdout_days == 16 and settings.model == "lightgbm" and settings.enabled


@pytest.mark.parametrize(
    ("block", "named"),
    [
        ({"holdout_days": 0}, "favorita.kaggle_task.holdout_days=0"),
        ({"holdout_days": "16"}, "favorita.kaggle_task.holdout_days='16'"),
        ({"model": "prophet"}, "favorita.kaggle_task.model='prophet'"),
        ({"enabled": "yes"}, "favorita.kaggle_task.enabled='yes'"),
        ({"moving_average_days": [14, 0]}, "favorita.kaggle_task.moving_average_days=[14, 0]"),
        ({"lightgbm": {"num_boost_round": -3}}, "favorita.kaggle_task.lightgbm.num_boost_round=-3"),
        ({"lightgbm": {"trees": 3}}, "favorita.kaggle_task.lightgbm.trees is not a setting"),
        ({"horizon": 16}, "favorita.kaggle_task.horizon is not a setting"),
    ],
)
def test_bad_parameters_are_refused_in_one_line_naming_them(block, named):
    with pytest.raises(InvalidParameterError) as caught:
        KaggleTaskSettings.from_params({"kaggle_task": block})
    message = str(caught.value)
    assert named in message and "\n" not in message


def test_kedro_run_with_a_bad_kaggle_parameter_exits_2_with_one_line(tmp_path):
    write_download(tmp_path / "download")
    out = tmp_path / "out"
    done = kedro_favorita_cli(
        f"favorita.data_dir={tmp_path / 'download'},favorita.out_dir={out},favorita.reports_dir={out},"
        "favorita.expect_release=sample,favorita.kaggle_task.holdout_days=0,favorita.kaggle_task.model=prophet"
    )
    assert done.returncode == 2, done.stderr[-2000:]
    lines = [line for line in done.stderr.splitlines() if "favorita.kaggle_task" in line]
    assert len(lines) == 1, done.stderr[-2000:]
    assert "holdout_days=0" in lines[0] and "model='prophet'" in lines[0]
    # Refused before anything was staged.
    assert not (out / "staged").exists()


# --- the node on a generated download ------------------------------------------------------------


@pytest.fixture(scope="module")
def synthetic_run(tmp_path_factory):
    from retailops.favorita import synthetic

    root = tmp_path_factory.mktemp("kaggle")
    synthetic.write_download(root / "download", train_rows=300_000, n_stores=8, n_items=150, seed=7)
    run_favorita(root / "download", root / "out",
                 kaggle_task={"lightgbm": {"num_boost_round": 60, "max_training_rows": 100_000}})
    return root


def _zero_forecast_score_by_hand(download, holdout_days=16) -> float:
    """The zero forecast's NWRMSLE, from the CSV files alone: every store x item of train, the
    last ``holdout_days`` days, a missing row counting as 0 sales (and so as 0 error)."""
    train = pd.read_csv(download / "train.csv", usecols=["date", "store_nbr", "item_nbr", "unit_sales"])
    items = pd.read_csv(download / "items.csv")
    last = pd.Timestamp(train["date"].max())
    tail = train[pd.to_datetime(train["date"]) > last - pd.Timedelta(days=holdout_days)]
    net = tail.groupby(["date", "store_nbr", "item_nbr"], as_index=False)["unit_sales"].sum()
    perishable = net["item_nbr"].map(items.set_index("item_nbr")["perishable"]).fillna(0) == 1
    weight = np.where(perishable, 1.25, 1.0)
    squared = np.log1p(net["unit_sales"].clip(lower=0)) ** 2
    n_stores, n_items = train["store_nbr"].nunique(), train["item_nbr"].nunique()
    item_weight = np.where(items.set_index("item_nbr").reindex(train["item_nbr"].unique())["perishable"]
                           .fillna(0) == 1, 1.25, 1.0)
    total_weight = n_stores * holdout_days * item_weight.sum()
    return math.sqrt(float((weight * squared).sum()) / total_weight)


def test_the_node_scores_the_model_and_baselines_and_beats_the_zero_forecast(synthetic_run):
    scores = pd.read_parquet(synthetic_run / "out" / "kaggle_scores.parquet").set_index("model")
    assert set(scores.index) == {"zero", "moving_average_14", "moving_average_28", "lightgbm"}
    assert (scores["status"] == "ok").all()
    assert scores.loc["lightgbm", "role"] == "model"
    assert scores.loc["lightgbm", "nwrmsle"] < scores.loc["zero", "nwrmsle"]
    assert scores.loc["moving_average_28", "nwrmsle"] < scores.loc["zero", "nwrmsle"]
    # The grid is the cross product of train's stores and items, 16 days each.
    train = pd.read_csv(synthetic_run / "download" / "train.csv", usecols=["store_nbr", "item_nbr"])
    assert scores.loc["zero", "cells"] == train["store_nbr"].nunique() * train["item_nbr"].nunique() * 16
    assert scores.loc["zero", "holdout_start"] == "2017-07-31"
    assert scores.loc["zero", "holdout_end"] == "2017-08-15"
    # The zero forecast's score, recomputed from the CSV files alone.
    assert scores.loc["zero", "nwrmsle"] == pytest.approx(
        _zero_forecast_score_by_hand(synthetic_run / "download"), rel=1e-6)


def test_the_report_shows_the_score_and_the_baselines(synthetic_run):
    html = (synthetic_run / "out" / "reports" / "favorita.html").read_text()
    scores = pd.read_parquet(synthetic_run / "out" / "kaggle_scores.parquet").set_index("model")
    assert "<h2>Kaggle task</h2>" in html
    assert f"lightgbm {scores.loc['lightgbm', 'nwrmsle']:.4f}" in html
    for baseline in ("zero", "moving_average_14", "moving_average_28"):
        assert f"{baseline} {scores.loc[baseline, 'nwrmsle']:.4f}" in html


def test_a_disabled_task_says_so_in_the_scores_and_the_report(tmp_path):
    write_download(tmp_path / "download")
    run_favorita(tmp_path / "download", tmp_path / "out", kaggle_task={"enabled": False})
    scores = pd.read_parquet(tmp_path / "out" / "kaggle_scores.parquet")
    assert list(scores["status"]) == ["skipped"]
    assert "enabled is false" in scores["note"].iloc[0]
    html = (tmp_path / "out" / "reports" / "favorita.html").read_text()
    assert "Kaggle task: not run" in html
