"""The notebooks' platform: a project folder with the repository's OWN conf, relative paths
untouched (``lake_root: data/lake``), built by the default ``kedro run`` started at its root.

Notebooks are then executed from ``<project>/notebooks``, as Jupyter runs them, so a location
resolved against the working directory instead of the project root fails the test (the shared
platform of tests/platform_fixture.py writes absolute paths into globals.yml and would hide it).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.catalog.project import relative_project
from tests.conftest import run_kedro

FIRST_DAY, LAST_DAY = "2024-07-01", "2024-07-07"
SCALE = "0.05"


@dataclass(frozen=True)
class NotebookPlatform:
    project: Path     # pyproject.toml, conf/ (the repository's), notebooks/, data/
    lake: Path        # where the repository's conf puts it: <project>/data/lake


@pytest.fixture(scope="session")
def platform(tmp_path_factory: pytest.TempPathFactory) -> NotebookPlatform:
    project = relative_project(tmp_path_factory.mktemp("notebooks") / "project")
    run = run_kedro("run", "--params", f"start_date={FIRST_DAY},end_date={LAST_DAY},scale={SCALE}",
                    cwd=project, timeout=900)
    if run.returncode != 0:
        raise AssertionError(f"kedro run failed ({run.returncode}):\n{run.stderr[-4000:]}")
    lake = project / "data" / "lake"
    assert (lake / "metadata/runs/validation/latest.json").is_file()
    return NotebookPlatform(project=project, lake=lake)
