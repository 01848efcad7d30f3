"""Each training is an MLflow run whose artifacts stay beside the tracking store."""

from __future__ import annotations

import json
import os
from pathlib import Path

from retailops.forecast.tracking import log_training


def test_a_training_run_keeps_its_artifacts_beside_the_store(tmp_path: Path, monkeypatch):
    elsewhere = tmp_path / "notebooks"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # like a notebook: the working directory is not the project
    store = tmp_path / "data" / "mlflow" / "mlflow.db"
    record = {"window": {"first": "2024-07-01", "last": "2024-09-01"},
              "parameters": {"num_boost_round": 250}, "metrics": {"fit_seconds": 1.5}}
    run_id = log_training("lightgbm", "2024-09-01_000000", record, f"sqlite:///{store}",
                          "forecast_training")
    assert not (elsewhere / "mlruns").exists()
    saved = store.parent / "artifacts" / "forecast_training" / run_id / "artifacts" / "training.json"
    assert json.loads(saved.read_text())["parameters"] == {"num_boost_round": 250}
    assert os.listdir(elsewhere) == []
