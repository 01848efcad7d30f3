"""`kedro run --pipelines metabase` as an operator runs it, against the stand-in over HTTP."""

from __future__ import annotations

import pytest

from tests.conftest import run_kedro

from .conftest import API_KEY
from .test_provisioning import FIRST_RUN_WRITES


def _kedro(standin, *params: str, api_key: str = API_KEY, env: str | None = None):
    args = ["run", "--pipelines", "metabase"] + (["--env", env] if env else [])
    if params:
        args += ["--params", ",".join(params)]
    return run_kedro(*args, env={"METABASE_URL": standin.url, "METABASE_API_KEY": api_key},
                     timeout=120)


@pytest.mark.slow
def test_the_pipeline_plans_then_provisions_then_changes_nothing(standin):
    plan = _kedro(standin, "metabase.dry_run=true")
    assert plan.returncode == 0, plan.stderr + plan.stdout
    output = plan.stdout + plan.stderr
    assert "+ create dashboard 'RetailOps — Executive summary'" in output
    assert "would create 28, update 0, leave 0 unchanged; 0 write request(s) (dry run)" in output
    assert standin.state.writes == []

    first = _kedro(standin)
    assert first.returncode == 0, first.stderr + first.stdout
    assert len(standin.state.writes) == FIRST_RUN_WRITES
    # the embedded default connects Metabase to the local DuckDB warehouse
    assert [d["engine"] for d in standin.state.databases.values()] == ["duckdb"]

    second = _kedro(standin)
    assert second.returncode == 0, second.stderr + second.stdout
    assert len(standin.state.writes) == FIRST_RUN_WRITES
    assert "did create 0, update 0, leave 28 unchanged; 0 write request(s)" in second.stdout + second.stderr


@pytest.mark.slow
def test_a_bad_api_key_ends_the_run_in_one_line(standin):
    result = _kedro(standin, api_key="not-the-key")
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if line.startswith("retailops: error:")]
    assert errors == [f"retailops: error: Metabase at {standin.url} rejected the API key "
                      "(401 Unauthenticated): check METABASE_API_KEY or credentials 'metabase'"]
    assert "Traceback" not in result.stderr
    assert standin.state.writes == []


@pytest.mark.slow
def test_on_aws_metabase_reads_the_marts_through_athena():
    from .standin import StandInServer

    with StandInServer(api_key=API_KEY, marts_schema="retailops_marts") as standin:
        result = _kedro(standin, env="aws")
        assert result.returncode == 0, result.stderr + result.stdout
        (database,) = standin.state.databases.values()
        assert (database["name"], database["engine"]) == ("RetailOps marts (Athena)", "athena")
        assert database["details"]["dbname"] == "retailops_marts"
        assert database["details"]["region"]
        sql = [c["dataset_query"]["native"]["query"] for c in standin.state.cards.values()]
        # The Favorita study's questions name its own schema (local DuckDB only, docs/favorita.md).
        assert all("{marts}" not in q for q in sql)
        assert all("retailops_marts." in q for q in sql if "favorita." not in q)
