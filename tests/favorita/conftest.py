"""Fixtures for the Favorita study: small downloads written by code, and one pipeline run each."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from favorita_fixtures import run_favorita, write_download  # noqa: E402

os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "1")


@dataclass
class FavoritaRun:
    """What one ``favorita`` pipeline run read and wrote."""

    data_dir: Path
    out_dir: Path
    written: dict[str, pd.DataFrame]

    def table(self, relative: str) -> pd.DataFrame:
        """A Parquet output under the run's out_dir."""
        return pd.read_parquet(self.out_dir / relative)

    @property
    def train_summary(self) -> dict:
        return json.loads((self.out_dir / "clean" / "train_summary.json").read_text())

    @property
    def test_summary(self) -> dict:
        return json.loads((self.out_dir / "clean" / "test_summary.json").read_text())

    @property
    def report_html(self) -> str:
        return (self.out_dir / "reports" / "favorita.html").read_text()


def _run(tmp_path_factory: pytest.TempPathFactory, name: str, **options) -> FavoritaRun:
    root = tmp_path_factory.mktemp(name)
    written = write_download(root / "download", **options)
    run_favorita(root / "download", root / "out")
    return FavoritaRun(root / "download", root / "out", written)


@pytest.fixture(scope="session")
def clean_run(tmp_path_factory: pytest.TempPathFactory) -> FavoritaRun:
    """The whole download, no defects beyond the real file's quirks."""
    return _run(tmp_path_factory, "clean")


@pytest.fixture(scope="session")
def broken_run(tmp_path_factory: pytest.TempPathFactory) -> FavoritaRun:
    """train.csv with an item missing from items.csv and a repeated id."""
    return _run(tmp_path_factory, "broken", broken=True)


@pytest.fixture(scope="session")
def partial_run(tmp_path_factory: pytest.TempPathFactory) -> FavoritaRun:
    """A download without the optional files: oil, holidays, transactions, test."""
    return _run(
        tmp_path_factory, "partial", omit=("oil", "holidays_events", "transactions", "test")
    )
