"""Helpers for the dbt project's tests: land a simulated lake, drive dbt in-process."""

from __future__ import annotations

import json
import os
import shutil
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Iterator

import pytest

os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "1")
os.environ.setdefault("DO_NOT_TRACK", "1")

from dbt.cli.main import dbtRunner, dbtRunnerResult  # noqa: E402

from retailops.lake.landing import (  # noqa: E402
    DayLanding,
    PlanLanding,
    land_day,
    land_dimensions,
    land_promotions,
)
from retailops.lake.storage import Lake  # noqa: E402
from retailops.simulation import (  # noqa: E402
    SimulationConfig,
    build_world,
    dimension_tables,
    initial_state,
    last_supported_day,
    run_days,
)
from retailops.simulation.promotions import plan_table, publication_days  # noqa: E402
from retailops.warehouse.dbt_project import DBT_PROJECT_DIR, dbt_vars, release_duckdb  # noqa: E402

FACT_TABLES = ("sales", "inventory", "shipments")


def land_lake(root: Path, last_day: date, scale: float = 0.05) -> Path:
    """Land the dimensions, the Mondays' promotion plans and every day from the first
    simulated day through last_day."""
    config = SimulationConfig(scale=scale)
    world = build_world(config)
    lake = Lake(str(root))
    land_dimensions(lake, dimension_tables(world))
    first = date(2024, 7, 1)
    plans = {monday: plan_table(world, monday, last_supported_day())
             for monday in publication_days(first, last_day)}
    land_promotions(lake, PlanLanding(plans, config.fingerprint()))
    for batch in run_days(world, initial_state(world), last_day):
        land_day(lake, DayLanding(batch, config.fingerprint()))
    return root


def hide_manifests(root: Path, day: str, stash: Path) -> None:
    """Move a day's manifests aside: its partitions become incomplete (data without manifest)."""
    for table in FACT_TABLES:
        source = root / "metadata" / "manifests" / table / f"dt={day}"
        shutil.move(str(source), str(stash / table))


def restore_manifests(root: Path, day: str, stash: Path) -> None:
    for table in FACT_TABLES:
        target = root / "metadata" / "manifests" / table / f"dt={day}"
        shutil.move(str(stash / table), str(target))


@dataclass
class DbtProject:
    """dbt_athena driven in-process against one lake root and one DuckDB file."""

    lake_root: Path
    duckdb_path: Path
    target_path: Path

    def invoke(self, *args: str, run_date: str | None = None, target: str = "duckdb",
               lake_root: str | None = None, env: dict[str, str] | None = None,
               raw_vars: dict[str, Any] | None = None,
               callbacks: list[Any] | None = None) -> dbtRunnerResult:
        """Run one dbt command in-process. ``raw_vars`` bypasses ``dbt_vars`` (for bad input);
        ``callbacks`` receive every event dbt fires."""
        values = raw_vars if raw_vars is not None else dbt_vars(lake_root or str(self.lake_root), run_date)
        settings = {"RETAILOPS_DUCKDB_PATH": str(self.duckdb_path), "RETAILOPS_RUN_DATE": "",
                    **(env or {})}
        previous = {name: os.environ.get(name) for name in settings}
        os.environ.update(settings)
        try:
            return dbtRunner(callbacks=callbacks or []).invoke([
                *args,
                "--project-dir", str(DBT_PROJECT_DIR),
                "--profiles-dir", str(DBT_PROJECT_DIR),
                "--target", target,
                "--target-path", str(self.target_path),
                "--log-path", str(self.target_path / "logs"),
                "--vars", json.dumps(values),
                "--no-use-colors",
                "--quiet",
            ])
        finally:
            release_duckdb()
            for name, value in previous.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value

    def query(self, sql: str) -> "Any":
        import duckdb

        with duckdb.connect(str(self.duckdb_path), read_only=True) as con:
            return con.execute(sql).df()


def new_project(tmp: Path, lake_root: Path) -> DbtProject:
    (tmp / "warehouse").mkdir(parents=True, exist_ok=True)
    return DbtProject(lake_root=lake_root, duckdb_path=tmp / "warehouse" / "retailops.duckdb",
                      target_path=tmp / "dbt_target")


def failures(result: dbtRunnerResult) -> list[str]:
    """Names of the nodes that errored or failed in a dbt result."""
    if result.result is None or not hasattr(result.result, "results"):
        return [str(result.exception)]
    return [r.node.name for r in result.result.results
            if str(r.status) in ("error", "fail")]


# The Athena target against moto: dummy credentials and the profile's variables.
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": "eu-west-1",
    "RETAILOPS_AWS_REGION": "eu-west-1",
    "RETAILOPS_ATHENA_S3_STAGING_DIR": "s3://retailops-athena-results/dbt/",
    "RETAILOPS_ATHENA_S3_DATA_DIR": "s3://retailops-lake/curated/",
    "RETAILOPS_ATHENA_WORK_GROUP": "primary",
}
LAKE = "s3://retailops-lake"


@contextmanager
def athena_moto_endpoint() -> Iterator[str]:
    """moto's server with the lake and results buckets and the three Glue databases, the
    environment pointing dbt-athena at it. moto keeps its state per process, so it is reset
    before and after: modules using it may run in any order."""
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
    try:
        s3 = boto3.client("s3", endpoint_url=endpoint, region_name="eu-west-1")
        for bucket in ("retailops-lake", "retailops-athena-results"):
            s3.create_bucket(Bucket=bucket,
                             CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        glue = boto3.client("glue", endpoint_url=endpoint, region_name="eu-west-1")
        for database in ("retailops_raw", "retailops_staging", "retailops_marts"):
            glue.create_database(DatabaseInput={"Name": database})
        yield endpoint
    finally:
        requests.post(f"{endpoint}/moto-api/reset", timeout=10)
        server.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
