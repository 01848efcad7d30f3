"""Publishing the marts to the readers' serving file, on a copy of a real run's warehouse and
curated Parquet: what it refuses (and that a refusal leaves the previous publication whole),
snapshots, and where the catalog's readers read."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from retailops.errors import ValidationError
from retailops.pipelines.publish.nodes import publish_marts
from retailops.pipelines.validate.nodes import require_valid_run
from retailops.warehouse import serving
from retailops.warehouse.serving import PublishError, publish_serving, serving_dir, snapshot_file


def _publish(copied, **options):
    lake, warehouse, path = copied
    return publish_serving(warehouse, path, lake, **options)


def _rows(path: Path, relation: str) -> int:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(f"select count(*) from {relation}").fetchall()[0][0]


def _state(path: Path) -> tuple:
    folder = serving_dir(path)
    return (path.stat().st_ino, path.read_bytes(), os.readlink(folder / "current"),
            sorted(p.name for p in (folder / "snapshots").iterdir()),
            sorted(p.name for p in path.parent.iterdir()))


def test_a_curated_copy_out_of_step_with_the_warehouse_is_not_published(copied):
    lake, _, path = copied
    _publish(copied)
    before = _state(path)
    days = sorted((lake / "curated" / "fct_daily_sales").glob("sale_date=*/*.parquet"))
    days[-1].unlink()  # the warehouse still holds that day

    with pytest.raises(PublishError, match=r"marts\.fct_daily_sales: the curated Parquet .* "
                                           r"holds \d+ rows, the warehouse \d+"):
        _publish(copied)
    assert _state(path) == before  # file, `current`, snapshots: all as they were, no leftovers


def test_a_mart_without_curated_parquet_is_not_published(copied):
    lake, _, path = copied
    shutil.rmtree(lake / "curated" / "dim_stores")
    with pytest.raises(PublishError, match=r"mart marts\.dim_stores has no curated Parquet"):
        _publish(copied)
    assert not path.exists()


def test_the_serving_file_cannot_be_the_warehouse(copied):
    lake, warehouse, _ = copied
    with pytest.raises(PublishError, match="must not be the warehouse itself"):
        publish_serving(warehouse, warehouse, lake)


def test_a_copied_relation_must_exist(copied):
    with pytest.raises(PublishError, match=r"staging\.no_such_ledger is not in the warehouse"):
        _publish(copied, copied_relations=["staging.no_such_ledger"])


def test_a_publication_is_a_snapshot_later_writes_do_not_reach(copied):
    """Readers see what was validated, not a folder dbt is rewriting."""
    lake, _, path = copied
    _publish(copied)
    published = _rows(path, "marts.dim_stores")
    with duckdb.connect() as con:  # dbt replaces the whole-table file as DuckDB does
        target = lake / "curated" / "dim_stores" / "dim_stores.parquet"
        con.execute(f"copy (select * from '{target}' limit 1) to '{target}' (format parquet)")
    assert _rows(path, "marts.dim_stores") == published > 1


def test_old_snapshots_are_pruned_and_current_is_the_newest(copied):
    _, _, path = copied
    # What a publish killed midway leaves: a half-written file, its WAL, a staged link.
    for leftover in (".serving.duckdb.tmp-999999", ".serving.duckdb.tmp-999999.wal"):
        (path.parent / leftover).write_bytes(b"half")
    serving_dir(path).mkdir()
    os.symlink("snapshots/gone", serving_dir(path) / ".current.tmp-999999")
    for _ in range(4):
        publication = _publish(copied, keep_snapshots=2)
    folder = serving_dir(path)
    snapshots = sorted(p.name for p in (folder / "snapshots").iterdir())
    assert len(snapshots) == 2 and snapshots[-1] == publication.snapshot
    assert os.readlink(folder / "current") == f"snapshots/{publication.snapshot}"
    assert [p.name for p in path.parent.iterdir() if p.name.startswith(".")] == []
    assert sorted(p.name for p in folder.iterdir()) == ["current", "partitions", "snapshots"]
    # Nothing changed between the publishes: each month folder was made once and is shared.
    months = [m for mart in (folder / "partitions").iterdir() for m in mart.iterdir()]
    assert months and all(len(list(m.iterdir())) == 1 for m in months)


def test_snapshots_are_hard_links_and_across_file_systems_unchanged_files_are_reused(
        copied, monkeypatch):
    lake, _, path = copied
    first = _publish(copied)
    curated_file = next((lake / "curated" / "fct_daily_sales").rglob("*.parquet"))
    relative = curated_file.relative_to(lake / "curated")
    snapshots = serving_dir(path) / "snapshots"
    assert (snapshot_file(snapshots / first.snapshot, relative).stat().st_ino
            == curated_file.stat().st_ino)

    real_link = os.link

    def link_across_devices(source, target):
        if str(source).startswith(str(lake)):
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        real_link(source, target)

    monkeypatch.setattr(serving.os, "link", link_across_devices)
    elsewhere = path.with_name("elsewhere.duckdb")  # a fresh serving file: no snapshot to reuse
    second = publish_serving(copied[1], elsewhere, lake)
    snapshots = serving_dir(elsewhere) / "snapshots"
    copy = snapshot_file(snapshots / second.snapshot, relative)
    assert copy.stat().st_ino != curated_file.stat().st_ino
    assert copy.read_bytes() == curated_file.read_bytes()
    third = publish_serving(copied[1], elsewhere, lake)  # unchanged: reuses the copy
    assert snapshot_file(snapshots / third.snapshot, relative).stat().st_ino == copy.stat().st_ino
    assert _rows(elsewhere, "marts.fct_daily_sales") == _rows(path, "marts.fct_daily_sales")


def test_a_run_whose_validation_failed_is_not_published(tiny_platform):
    import json

    passed = json.loads((tiny_platform.lake / "metadata/runs/validation/latest.json").read_text())
    params = {"copied_relations": ["staging.stg_defects"]}
    assert publish_marts(passed, params) == {"copied_relations": ["staging.stg_defects"],
                                             "keep_snapshots": 2, "curated_tables": []}
    # The same report with one check failed (written in every form the report has carried).
    failed = json.loads(json.dumps(passed))
    failed["checks"][0]["ok"] = False
    failed.update(ok=False, failed_checks=[failed["checks"][0]["name"]],
                  failures=[f"{failed['checks'][0]['name']}: expected 10, got 9"])
    with pytest.raises(ValidationError) as refused:
        publish_marts(failed, params)
    with pytest.raises(ValidationError) as validated:
        require_valid_run(failed)
    assert str(refused.value) == str(validated.value)  # one message, whichever node runs first


def test_a_warehouse_another_process_is_writing_is_not_published(copied):
    """One line naming both files, not a DuckDB traceback; nothing published."""
    lake, warehouse, path = copied
    writer = subprocess.Popen(  # another process holding the warehouse open for writing
        [sys.executable, "-c", "import duckdb, sys; con = duckdb.connect(sys.argv[1]); "
         "print('ready', flush=True); sys.stdin.read()", str(warehouse)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline().strip() == "ready"
        with pytest.raises(PublishError, match=r"could not publish .*retailops\.duckdb to "
                                               r".*serving\.duckdb: .*Could not set lock"):
            publish_serving(warehouse, path, lake)
    finally:
        writer.communicate("", timeout=20)
    assert not path.exists() and not (serving_dir(path) / "current").exists()
