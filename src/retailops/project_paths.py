"""Where relative locations in conf are anchored: the project root, never the working directory.

A notebook kernel runs in ``notebooks/``, ``kedro run`` at the project root, a packaged run
wherever it is started. The repository's conf says ``lake_root: data/lake``; for all of them to
reach the same lake, a relative location must be read against the project root Kedro found
(the session's ``project_path``).

Kedro already does that for the ``path``/``filepath``/``filename`` keys of catalog entries, but
not for globals used under other keys (a dataset's ``warehouse_path``, a parameter such as
Metabase's ``database_file``). So the location globals are anchored once, when the context is
created: every global whose name ends in ``_root``, ``_path`` or ``_dir`` and holds a relative
local path becomes ``<project root>/<path>``; URLs (``s3://...``) and absolute paths are kept.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from kedro.framework.context import KedroContext
from kedro.framework.hooks import hook_impl

LOCATION_SUFFIXES = ("_root", "_path", "_dir")


def is_relative_location(value: Any) -> bool:
    """A local path that is not absolute (``data/lake``); not a URL, not ``/abs`` or ``C:\\x``."""
    if not isinstance(value, str) or not value or "://" in value:
        return False
    return not (PurePosixPath(value).is_absolute() or PureWindowsPath(value).is_absolute())


def anchor_locations(values: dict[str, Any], project_path: Path) -> dict[str, Any]:
    """``values`` with every relative location (by key suffix, at any depth) under the project."""
    anchored: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, dict):
            anchored[key] = anchor_locations(value, project_path)
        elif str(key).endswith(LOCATION_SUFFIXES) and is_relative_location(value):
            anchored[key] = (project_path / value).as_posix()
        else:
            anchored[key] = value
    return anchored


class ProjectPathHooks:
    """Anchors the location globals at the project root before anything reads the config."""

    # First among the after_context_created hooks: another hook reading context.params or the
    # catalog must already see anchored locations.
    @hook_impl(tryfirst=True)
    def after_context_created(self, context: KedroContext) -> None:
        loader = context.config_loader
        try:
            globals_ = loader["globals"]
        except Exception:  # noqa: BLE001 - a conf without globals has nothing to anchor
            return
        anchored = anchor_locations(globals_, Path(context.project_path))
        if anchored != globals_:
            # OmegaConfigLoader's ${globals:...} resolver reads the value set here.
            loader["globals"] = anchored
