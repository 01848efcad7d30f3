"""Fixtures for the serving tests: one tiny platform built by a real ``kedro run`` (3 days at
scale 0.02, ingest -> transform -> validate -> publish -> report), and readers held open in
separate processes."""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import run_kedro
from tests.platform_fixture import make_project

FIRST_DAY, LAST_DAY, NEXT_DAY = "2024-07-01", "2024-07-03", "2024-07-04"
SCALE = "0.02"
HOLDER = Path(__file__).with_name("holder.py")


@dataclass(frozen=True)
class TinyPlatform:
    project: Path
    conf: Path
    lake: Path
    warehouse: Path
    serving: Path


@pytest.fixture(scope="session")
def tiny_platform(tmp_path_factory: pytest.TempPathFactory) -> TinyPlatform:
    project = tmp_path_factory.mktemp("serving") / "project"
    conf, lake = make_project(project)
    run = run_kedro("run", "--conf-source", str(conf), "--params",
                    f"start_date={FIRST_DAY},end_date={LAST_DAY},scale={SCALE}")
    assert run.returncode == 0, run.stderr[-4000:]
    return TinyPlatform(project=project, conf=conf, lake=lake,
                        warehouse=project / "warehouse" / "retailops.duckdb",
                        serving=project / "warehouse" / "serving.duckdb")


class HeldReader:
    """A second process holding a read-only DuckDB connection open (see holder.py)."""

    def __init__(self, path: Path, sql: str | None = None):
        self.process = subprocess.Popen(
            [sys.executable, str(HOLDER), str(path), *([sql] if sql else [])],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        first = self.process.stdout.readline().strip()
        if first != "ready":
            self.process.kill()
            raise AssertionError(f"the reader did not start: {first} {self.process.stderr.read()}")

    def ask(self, command: str) -> str:
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        return self.process.stdout.readline().strip()

    def close(self) -> None:
        if self.process.poll() is None:
            try:
                self.ask("quit")
                self.process.wait(timeout=20)
            except (BrokenPipeError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait()


@pytest.fixture
def hold_open():
    """``hold_open(path)`` starts a held reader; every one is ended when the test ends."""
    readers: list[HeldReader] = []

    def start(path: Path, sql: str | None = None) -> HeldReader:
        reader = HeldReader(path, sql)
        readers.append(reader)
        return reader

    yield start
    for reader in readers:
        reader.close()


@pytest.fixture
def copied(tiny_platform, tmp_path):
    """The platform's warehouse and curated zone, copied so a test can break them."""
    lake = tmp_path / "lake"
    shutil.copytree(tiny_platform.lake / "curated", lake / "curated")
    warehouse = tmp_path / "warehouse" / "retailops.duckdb"
    warehouse.parent.mkdir()
    shutil.copy(tiny_platform.warehouse, warehouse)
    return lake, warehouse, tmp_path / "warehouse" / "serving.duckdb"
