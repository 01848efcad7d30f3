"""dbt's DuckDB is capped (dbt_athena/profiles.yml, ``settings.memory_limit``).

DuckDB's own default is 80% of the machine's memory: a full build over a long history then
grows until the machine runs out instead of spilling to disk (issue 13: a year at scale 16 must
peak under 6 GB). The limit is read from the connection dbt itself opens.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from dbt_harness import new_project


def test_dbt_duckdb_memory_is_capped_at_4gb_by_default(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RETAILOPS_DUCKDB_MEMORY_LIMIT", raising=False)
    project = new_project(tmp_path, tmp_path / "lake")
    result = project.invoke("show", "--inline",
                            "select current_setting('memory_limit') as memory_limit")
    assert result.success, result.exception
    # DuckDB reports 4 GB (4e9 bytes) in binary units: 4e9 / 2**30 = 3.725... GiB (its default,
    # 80% of this machine's memory, would read 18-19 GiB).
    assert result.result.results[0].agate_table.rows[0][0] == "3.7 GiB"


def test_the_platforms_own_duckdb_reads_take_the_same_cap(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Validation, reports and the forecast read the warehouse through DuckDBWarehouse.session;
    over a year at scale 16 the validate stage grew to 8.4 GB before it was capped."""
    import duckdb

    from retailops.warehouse.engines import DuckDBWarehouse

    path = tmp_path / "warehouse.duckdb"
    duckdb.connect(str(path)).close()
    warehouse = DuckDBWarehouse(str(path))
    monkeypatch.delenv("RETAILOPS_DUCKDB_MEMORY_LIMIT", raising=False)
    setting = "select current_setting('memory_limit')"
    assert warehouse.rows(setting) == [("3.7 GiB",)]  # 4e9 bytes in DuckDB's binary units
    monkeypatch.setenv("RETAILOPS_DUCKDB_MEMORY_LIMIT", "1GB")
    with warehouse.session() as session:
        assert session.rows(setting) == [("953.6 MiB",)]  # 1e9 / 2**20


def test_a_memory_limit_duckdb_cannot_read_is_one_clear_error(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    import duckdb

    from retailops.errors import InvalidParameterError
    from retailops.warehouse.engines import DuckDBWarehouse

    path = tmp_path / "warehouse.duckdb"
    duckdb.connect(str(path)).close()
    monkeypatch.setenv("RETAILOPS_DUCKDB_MEMORY_LIMIT", "lots")
    with pytest.raises(InvalidParameterError, match="RETAILOPS_DUCKDB_MEMORY_LIMIT='lots'"):
        DuckDBWarehouse(str(path)).rows("select 1")
