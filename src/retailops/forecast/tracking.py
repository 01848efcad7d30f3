"""MLflow tracking of model trainings: one MLflow run per trained model, with its parameters,
training window, fit and calibration metrics, and ``training.json`` as an artifact.

mlflow is imported here only, lazily: no other stage pays for it (or opens a tracking store).
The store defaults to SQLite (``sqlite:///data/mlflow/mlflow.db``): mlflow 3 refuses a plain
``./mlruns`` file store unless ``MLFLOW_ALLOW_FILE_STORE=true``, and one SQLite file is what
``mlflow ui --backend-store-uri`` opens to compare runs (conf/base/mlflow.yml names the same
store for ``kedro mlflow ui``).
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any, Mapping

log = logging.getLogger(__name__)


def _flatten(params: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in params.items():
        if isinstance(value, Mapping):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def prepare_store(tracking_uri: str) -> str:
    """The tracking URI with a relative SQLite path made absolute (against the working
    directory, the project root under ``kedro run``) and its folder created."""
    prefix = "sqlite:///"
    if tracking_uri.startswith(prefix):
        path = Path(tracking_uri[len(prefix):])
        if not path.is_absolute():
            path = Path(os.getcwd()) / path
        path.parent.mkdir(parents=True, exist_ok=True)
        return prefix + str(path)
    return tracking_uri


def open_experiment(tracking_uri: str, experiment: str) -> None:
    """Point mlflow at the store and at ``experiment``, creating it if needed.

    A new experiment keeps its artifacts beside a SQLite store (``<db folder>/artifacts/``):
    mlflow's default artifact root is ``./mlruns`` under whatever the working directory is,
    which scattered artifacts into the repository and the notebooks' folder."""
    import mlflow

    uri = prepare_store(tracking_uri)
    mlflow.set_tracking_uri(uri)
    if mlflow.get_experiment_by_name(experiment) is None and uri.startswith("sqlite:///"):
        artifacts = Path(uri[len("sqlite:///"):]).parent / "artifacts" / experiment
        mlflow.create_experiment(experiment, artifact_location=artifacts.as_uri())
    mlflow.set_experiment(experiment)


def log_training(model: str, version: str, record: Mapping[str, Any], tracking_uri: str,
                 experiment: str) -> str:
    """One MLflow run for one trained model version; returns the run id."""
    import mlflow

    open_experiment(tracking_uri, experiment)
    with mlflow.start_run(run_name=f"train {model} {version}") as run:
        mlflow.set_tags({"model": model, "model_version": version, "kind": "training"})
        params = {"model": model, "version": version,
                  **{f"window.{k}": v for k, v in record.get("window", {}).items()},
                  **_flatten(record.get("parameters", {})),
                  "data_fingerprint": record.get("data_fingerprint")}
        mlflow.log_params({k: str(v)[:500] for k, v in params.items()})
        metrics = {k: float(v) for k, v in record.get("metrics", {}).items()
                   if isinstance(v, (int, float))}
        metrics["series"] = float(record.get("series", 0))
        mlflow.log_metrics(metrics)
        with tempfile.TemporaryDirectory() as folder:
            (Path(folder) / "training.json").write_text(
                json.dumps(dict(record), indent=1, default=str))
            mlflow.log_artifacts(folder)
        return run.info.run_id
