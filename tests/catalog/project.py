"""A throwaway Kedro project folder whose conf is the repository's own, relative paths and all."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.conftest import PROJECT_ROOT


def relative_project(root: Path) -> Path:
    """pyproject.toml, an empty src/ (the package is installed), notebooks/ and a verbatim copy of
    conf/ (its globals keep ``lake_root: data/lake``); conf/local starts empty as in a clone."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(PROJECT_ROOT / "pyproject.toml", root / "pyproject.toml")
    (root / "src").mkdir(exist_ok=True)
    (root / "notebooks").mkdir(exist_ok=True)
    shutil.copytree(PROJECT_ROOT / "conf", root / "conf", ignore=shutil.ignore_patterns("local"))
    (root / "conf" / "local").mkdir()
    assert "lake_root: data/lake" in (root / "conf" / "base" / "globals.yml").read_text()
    return root
