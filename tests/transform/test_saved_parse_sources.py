"""A saved dbt parse is used only with the project sources it was made from.

dbt's partial parsing re-parses a model when a macro it calls changes, but not when the changed
macro is reached through ``adapter.dispatch``: the base tables' config calls
``raw_landing_config``, which dispatches to ``duckdb__raw_landing_config``, so a hook added
there never ran in a folder parsed before the change ("Nothing changed, skipping partial
parsing"; found when a session setting added there as a hook was measured and never ran).
``retailops.warehouse.dbt`` keeps a fingerprint of the sources beside each saved
parse and removes a parse made from other sources. These tests change that macro in a copy of
the project and read the hooks dbt's next parse gives ``base_sales``: without the guard they
are the old ones (the first test shows dbt's behaviour), with it the new ones.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from retailops.warehouse import dbt

OLD_HOOK = "{{ retailops.clear_rebuilt_days('dt') }}"
NEW_HOOK = "{{ retailops.clear_rebuilt_days('dt') }} -- changed"


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    """A copy of the dbt project, the one ``invoke`` runs, with its parse kept in the test."""
    copy = tmp_path / "dbt_project"
    source = dbt.project_dir()
    for folder in ("macros", "models", "tests"):
        shutil.copytree(source / folder, copy / folder)
    for name in ("dbt_project.yml", "selectors.yml", "profiles.yml"):
        shutil.copy(source / name, copy / name)
    monkeypatch.setattr(dbt, "project_dir", lambda: copy)
    monkeypatch.setattr(dbt, "_MARKS_CHECKED", set())
    monkeypatch.setenv("DBT_TARGET_PATH", str(tmp_path / "target"))
    monkeypatch.setenv("DBT_LOG_PATH", str(tmp_path / "logs"))
    return copy


def _base_sales_hooks() -> list[str]:
    """Parse (``invoke``, as a run does) and return the pre-hooks dbt gives base_sales."""
    result = dbt.invoke(["parse", "--vars", json.dumps({"lake_root": "/parse-only"})],
                        "duckdb")
    assert result.success, result.exception
    node = result.result.nodes["model.retailops.base_sales"]
    return [hook.sql for hook in node.config.pre_hook]


def _change_the_dispatched_macro(project: Path) -> None:
    macros = project / "macros" / "materializations.sql"
    text = macros.read_text()
    assert text.count(f'"{OLD_HOOK}"') == 1
    macros.write_text(text.replace(f'"{OLD_HOOK}"', f'"{NEW_HOOK}"'))
    dbt._MARKS_CHECKED.clear()  # as a new process would


def test_dbt_alone_keeps_the_old_hooks_of_a_dispatched_macro(project, monkeypatch):
    monkeypatch.setattr(dbt, "forget_parse_of_other_sources", lambda target_path: False)
    assert _base_sales_hooks() == [OLD_HOOK]
    _change_the_dispatched_macro(project)
    assert _base_sales_hooks() == [OLD_HOOK], "dbt's partial parse now sees the change itself"


def test_a_parse_saved_from_other_sources_is_made_again(project, tmp_path):
    assert _base_sales_hooks() == [OLD_HOOK]
    target = tmp_path / "target"
    assert (target / "partial_parse.msgpack").is_file()
    assert (target / dbt.SOURCES_MARK).read_text().strip() == dbt.sources_fingerprint()
    dbt._MARKS_CHECKED.clear()
    # The same sources: the saved parse is kept (a daily run parses nothing).
    assert dbt.forget_parse_of_other_sources(target) is False
    assert (target / "partial_parse.msgpack").is_file()

    _change_the_dispatched_macro(project)
    assert _base_sales_hooks() == [NEW_HOOK]
    assert (target / dbt.SOURCES_MARK).read_text().strip() == dbt.sources_fingerprint()


def test_a_saved_parse_without_a_mark_is_made_again(project, tmp_path):
    """A folder parsed before the guard existed holds no mark: its parse is not trusted."""
    _base_sales_hooks()
    target = tmp_path / "target"
    (target / dbt.SOURCES_MARK).unlink()
    dbt._MARKS_CHECKED.clear()
    assert dbt.forget_parse_of_other_sources(target) is True
    assert not (target / "partial_parse.msgpack").exists()
