"""Trained models as versioned artifacts in the lake, and when a model is due for retraining.

``metadata/models/forecast/<model>/<version>/`` holds ``model.pkl`` (the fitted forecaster,
pickled: only this project's own lake is ever unpickled) and ``training.json`` (training window,
parameters, metrics, data fingerprint), and files derived from the model (``compiled/``: the
LightGBM trees compiled for a CPU type, ``VersionFiles``). A version is ``<last training day>_<UTC training time>``,
so versions sort by the data they were trained on, then by when. Written through the ``Lake``
(local folder or S3); ``training.json`` is written last, so a version without it is incomplete
and never loaded.
"""

from __future__ import annotations

import json
import pickle
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any

from retailops.lake.layout import METADATA
from retailops.lake.storage import Lake

MODELS_FOLDER = f"{METADATA}/models/forecast"


def model_folder(model: str) -> str:
    return f"{MODELS_FOLDER}/{model}"


def version_name(last_training_day: date, trained_at: datetime | None = None) -> str:
    trained_at = trained_at or datetime.now(timezone.utc)
    return f"{last_training_day.isoformat()}_{trained_at.strftime('%Y%m%dT%H%M%SZ')}"


@dataclass(frozen=True)
class StoredModel:
    model: str
    version: str
    training: dict[str, Any]

    @property
    def last_training_day(self) -> date:
        return date.fromisoformat(self.training["window"]["last_day"])


def versions(lake: Lake, model: str) -> list[str]:
    """Complete versions of a model (those with training.json), oldest first."""
    folder = model_folder(model)
    files = set(lake.find(folder))
    return sorted(v for v in lake.list_partitions(folder)
                  if f"{folder}/{v}/training.json" in files)


def latest(lake: Lake, model: str) -> StoredModel | None:
    found = versions(lake, model)
    if not found:
        return None
    version = found[-1]
    training = json.loads(lake.read_bytes(f"{model_folder(model)}/{version}/training.json"))
    return StoredModel(model, version, training)


def save(lake: Lake, model: str, forecaster: Any, training: dict[str, Any],
         trained_at: datetime | None = None) -> StoredModel:
    """Store a fitted forecaster as a new version; ``training`` must hold ``window.last_day``."""
    last_day = date.fromisoformat(training["window"]["last_day"])
    version = version_name(last_day, trained_at)
    folder = f"{model_folder(model)}/{version}"
    lake.write_bytes(f"{folder}/model.pkl", pickle.dumps(forecaster, protocol=5))
    record = {"model": model, "version": version, **training}
    lake.write_bytes(f"{folder}/training.json",
                     json.dumps(record, indent=2, sort_keys=True, default=str).encode())
    return StoredModel(model, version, record)


class VersionFiles:
    """Files derived from one stored version, kept beside it (``<version>/<folder>/<key>``):
    the LightGBM model's compiled trees, one object per CPU type (``gbm.use_compiled``)."""

    def __init__(self, lake: Lake, stored: StoredModel, folder: str) -> None:
        self.lake = lake
        self.folder = f"{model_folder(stored.model)}/{stored.version}/{folder}"

    def get(self, key: str) -> bytes | None:
        path = f"{self.folder}/{key}"
        return self.lake.read_bytes(path) if self.lake.exists(path) else None

    def put(self, key: str, data: bytes) -> None:
        self.lake.write_bytes(f"{self.folder}/{key}", data)


def load(lake: Lake, stored: StoredModel) -> Any:
    return pickle.loads(lake.read_bytes(f"{model_folder(stored.model)}/{stored.version}/model.pkl"))


def is_due(stored: StoredModel | None, today: date, retrain_weekday: int,
           max_age_days: int = 7) -> tuple[bool, str]:
    """Whether to train on ``today`` (the last day of history), and why.

    Train when no model exists, on the retraining weekday (0 = Monday) unless a model was
    already trained on today's data, and whenever the newest model is ``max_age_days`` or older
    (a missed retraining day is caught up on the next run).
    """
    if stored is None:
        return True, "no model yet"
    age = (today - stored.last_training_day).days
    if age <= 0:
        return False, f"model {stored.version} is trained on data up to {today}"
    if today.weekday() == retrain_weekday:
        return True, "weekly retraining day"
    if age >= max_age_days:
        return True, f"model {stored.version} is {age} days old"
    return False, f"model {stored.version} is {age} days old (retrained weekly)"
