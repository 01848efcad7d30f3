"""One small platform, built once per test session, for the report, notebook and viz tests.

``built_platform()`` makes a throwaway Kedro project folder (the repository's pyproject.toml,
an empty ``src/`` — the package itself is installed — and a copy of ``conf/`` whose lake,
warehouse and reports live inside that folder), then runs the real default ``kedro run``
(ingest -> transform -> validate -> report) on it for a week at a small scale. Notebooks opened
from ``<project>/notebooks`` find this project, exactly as they find the repository's.

Each test folder's conftest exposes it as a session fixture; the module-level cache makes the
three share one build.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import PROJECT_ROOT, conf_with_lake, run_kedro

FIRST_DAY, LAST_DAY = "2024-07-01", "2024-07-07"
SCALE = "0.05"
# Three-day report periods, so a week of data has a previous period to compare with.
PERIOD_DAYS = 3


@dataclass(frozen=True)
class Platform:
    project: Path          # a Kedro project folder: pyproject.toml, conf/, src/, notebooks/
    conf: Path
    lake: Path
    warehouse: Path
    report: Path           # the executive summary the default run wrote
    run: subprocess.CompletedProcess


_BUILT: dict[str, Platform] = {}


def make_project(root: Path) -> tuple[Path, Path]:
    """A Kedro project folder at ``root`` whose conf points every path inside it."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(PROJECT_ROOT / "pyproject.toml", root / "pyproject.toml")
    (root / "src").mkdir(exist_ok=True)  # kedro wants the folder; the package is installed
    lake = root / "data" / "lake"
    conf = conf_with_lake(root, str(lake))
    return conf, lake


def built_platform(tmp_path_factory: pytest.TempPathFactory) -> Platform:
    if "platform" in _BUILT:
        return _BUILT["platform"]
    project = tmp_path_factory.mktemp("platform") / "project"
    conf, lake = make_project(project)
    run = run_kedro("run", "--conf-source", str(conf), "--params",
                    f"start_date={FIRST_DAY},end_date={LAST_DAY},scale={SCALE},"
                    f"report.period_days={PERIOD_DAYS}", timeout=900)
    if run.returncode != 0:
        raise AssertionError(f"kedro run failed ({run.returncode}):\n{run.stderr[-4000:]}")
    platform = Platform(project=project, conf=conf, lake=lake,
                        warehouse=project / "warehouse" / "retailops.duckdb",
                        report=project / "reports" / "executive_summary.html", run=run)
    _BUILT["platform"] = platform
    return platform
