"""The Athena path executed offline: the models compiled for the Athena target, transpiled
from Trino to DuckDB (harness.trino_to_duckdb), run in dependency order over the Glue tables
of deploy/cfn/02-catalog.yaml as their SerDes expose a landed lake (harness.register_glue_tables),
compute the same models as the DuckDB-target build of the same lake, frame for frame.

The lake carries a few hand-made raw values where Trino and DuckDB disagree (a decimal or
exponent quantity, padded and empty fields): both paths must stage them alike.
"""

from __future__ import annotations

import json
import os
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from tests.athena_offline.harness import (
    connect,
    glue_tables,
    register_glue_tables,
    run_models,
    trino_to_duckdb,
)
from dbt_harness import DbtProject, failures, land_lake, new_project  # noqa: E402 (harness path)
from test_athena_compile import AWS_ENV, LAKE  # noqa: E402

LAST_DAY = "2024-07-04"
EDITED_DAY = "2024-07-02"
# Raw sale lines rewritten by hand: (column index in sales.csv, raw text, what Trino stages).
EDITS = {1: (4, "7.5", None), 2: (4, "1e1", None), 3: (4, " 3 ", 3), 4: (4, "", None),
         5: (5, "", None), 6: (4, "+2", 2)}
MARTS = ("dim_date", "dim_stores", "dim_products", "mart_supplier_performance",
         "fct_daily_sales", "fct_inventory_snapshots")
STAGING = ("stg_manifests", "stg_products", "stg_stores", "stg_suppliers", "stg_sales",
           "stg_inventory", "stg_shipments", "stg_defects")
FULL_BUILD = {"RETAILOPS_REBUILD_DAYS": "all"}


def _edit_sales(lake: Path) -> dict[int, int]:
    """Rewrite a few raw sale lines of EDITED_DAY (EDITS); return line number -> sale_id."""
    path = lake / "raw" / "sales" / f"dt={EDITED_DAY}" / "sales.csv"
    lines = path.read_text().splitlines()
    sale_ids = {}
    for number, (index, text, _) in EDITS.items():
        fields = lines[number].split(",")
        fields[index] = text
        sale_ids[number] = int(fields[0])
        lines[number] = ",".join(fields)
    path.write_text("\n".join(lines) + "\n")
    return sale_ids


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[int, int]]:
    """Four simulated days at scale 0.02, landed by the ingest's landing code, a few raw
    sale fields then edited."""
    root = land_lake(tmp_path_factory.mktemp("athena_offline") / "lake", date.fromisoformat(LAST_DAY),
                     scale=0.02)
    return root, _edit_sales(root)


@pytest.fixture(scope="module")
def duckdb_build(lake: tuple[Path, dict[int, int]], tmp_path_factory: pytest.TempPathFactory) -> DbtProject:
    """The DuckDB-target build of the lake (`dbt run`, a first build: every day)."""
    project = new_project(tmp_path_factory.mktemp("duckdb_target"), lake[0])
    result = project.invoke("run", run_date=LAST_DAY, env=FULL_BUILD)
    assert result.success, failures(result)
    return project


@pytest.fixture(scope="module")
def moto_endpoint() -> str:
    """moto's S3 and Glue (the approach of tests/dbt/test_athena_compile.py). moto keeps its
    state per process, so it is reset before and after: either module may run first."""
    import boto3
    import requests
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    requests.post(f"{endpoint}/moto-api/reset", timeout=10)
    saved = {k: os.environ.get(k) for k in [*AWS_ENV, "AWS_ENDPOINT_URL"]}
    os.environ.update(AWS_ENV, AWS_ENDPOINT_URL=endpoint)
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="eu-west-1")
    for bucket in ("retailops-lake", "retailops-athena-results"):
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    glue = boto3.client("glue", endpoint_url=endpoint, region_name="eu-west-1")
    for database in ("retailops_raw", "retailops_staging", "retailops_marts"):
        glue.create_database(DatabaseInput={"Name": database})
    yield endpoint
    requests.post(f"{endpoint}/moto-api/reset", timeout=10)
    server.stop()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="module")
def athena_manifest(moto_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Every model compiled for the Athena target against moto's Glue (nothing built yet:
    the first-build, non-incremental form)."""
    tmp = tmp_path_factory.mktemp("athena_target")
    project = new_project(tmp, tmp / "unused-local-lake")
    result = project.invoke("compile", "--select", "resource_type:model", target="athena",
                            lake_root=LAKE, run_date=LAST_DAY, env=FULL_BUILD)
    assert result.success, failures(result)
    return json.loads((project.target_path / "manifest.json").read_text())


@pytest.fixture(scope="module")
def athena_path(lake: tuple[Path, dict[int, int]], athena_manifest: dict) -> duckdb.DuckDBPyConnection:
    """The Athena-compiled models run on DuckDB over the Glue tables of the lake."""
    con = connect()
    register_glue_tables(con, lake[0])
    run_models(con, athena_manifest)
    yield con
    con.close()


def _athena_frame(con: duckdb.DuckDBPyConnection, manifest: dict, name: str) -> pd.DataFrame:
    node = next(n for n in manifest["nodes"].values() if n["resource_type"] == "model" and n["name"] == name)
    return con.execute(f"select * from {node['relation_name']}").df()


def _duckdb_frame(project: DbtProject, name: str) -> pd.DataFrame:
    schema = "marts" if name in MARTS else "staging"
    return project.query(f'select * from "{schema}"."{name}"')


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows in a canonical order: by every column, floats rounded for the order only."""
    key = frame.copy()
    for column in key.columns:
        if pd.api.types.is_float_dtype(key[column]):
            key[column] = key[column].round(6)
        key[column] = key[column].astype(str)
    order = key.sort_values(list(key.columns)).index
    return frame.loc[order].reset_index(drop=True)


def assert_same_frame(athena: pd.DataFrame, local: pd.DataFrame) -> None:
    assert list(athena.columns) == list(local.columns)
    assert len(athena) == len(local) > 0
    pd.testing.assert_frame_equal(_sorted(athena), _sorted(local), check_dtype=False,
                                  rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("name", MARTS + STAGING)
def test_athena_sql_computes_the_duckdb_build(name: str, athena_path: duckdb.DuckDBPyConnection,
                                              athena_manifest: dict, duckdb_build: DbtProject) -> None:
    assert_same_frame(_athena_frame(athena_path, athena_manifest, name), _duckdb_frame(duckdb_build, name))
