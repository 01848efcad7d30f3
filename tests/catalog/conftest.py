"""A throwaway Kedro project with the repository's OWN conf (relative paths untouched), and
in-process sessions on it opened from any working directory, as a notebook kernel opens them."""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.catalog.project import relative_project

# A few days at a small scale: enough to tell complete partitions from incomplete ones, and
# late enough for the first deliveries (shipments) to arrive.
FIRST_DAY, LAST_DAY = "2024-07-01", "2024-07-05"
SCALE = 0.03


@contextmanager
def session_in(project: Path, cwd: Path, env: str | None = None,
               runtime_params: dict[str, Any] | None = None) -> Iterator[Any]:
    """A KedroSession on ``project`` created while the working directory is ``cwd``; the working
    directory stays there while the session is used (as in a notebook kernel)."""
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    before = Path.cwd()
    os.chdir(cwd)
    try:
        bootstrap_project(project)
        with KedroSession.create(project_path=project, env=env,
                                 runtime_params=runtime_params) as session:
            yield session
    finally:
        os.chdir(before)


@pytest.fixture(scope="module")
def landed_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project whose own relative lake (``data/lake`` under the project) holds five days,
    landed by ``kedro run --pipelines ingest`` (in-process) started at the project root."""
    project = relative_project(tmp_path_factory.mktemp("catalog") / "project")
    params = {"start_date": FIRST_DAY, "end_date": LAST_DAY, "scale": SCALE}
    with session_in(project, project, runtime_params=params) as session:
        session.run(pipeline_names=["ingest"])
    assert (project / "data" / "lake" / "raw" / "sales" / f"dt={LAST_DAY}" / "sales.csv").is_file()
    return project
