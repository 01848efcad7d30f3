"""A laptop run with ``--env aws`` and only the lake bucket set: the deployment's workgroup,
databases and Athena locations come from the bucket's name, or the run stops in one line
naming what to set, before a node runs. Never Athena's ``primary`` workgroup."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from retailops.deployment import DeploymentConfigError, athena_environment
from tests.platform_fixture import make_project

DEV_BUCKET = "retailops-dev-lake-123456789012-eu-west-1"


def test_the_bucket_name_gives_every_name_of_its_deployment():
    assert athena_environment({"RETAILOPS_LAKE_BUCKET": DEV_BUCKET}) == {
        "RETAILOPS_LAKE_BUCKET": DEV_BUCKET,
        "RETAILOPS_PREFIX": "retailops-dev",
        "RETAILOPS_ATHENA_WORK_GROUP": "retailops-dev",
        "RETAILOPS_ATHENA_SCHEMA": "retailops_dev",
        "RETAILOPS_ATHENA_S3_STAGING_DIR":
            "s3://retailops-dev-athena-results-123456789012-eu-west-1/results/",
        "RETAILOPS_ATHENA_S3_DATA_DIR": f"s3://{DEV_BUCKET}/curated/_dbt_tmp/",
        "RETAILOPS_AWS_REGION": "eu-west-1",
    }


def test_variables_that_are_set_win_over_the_derived_ones():
    values = athena_environment({"RETAILOPS_LAKE_BUCKET": DEV_BUCKET, "RETAILOPS_PREFIX": "other",
                                 "RETAILOPS_ATHENA_WORK_GROUP": "analysts"})
    assert values["RETAILOPS_ATHENA_WORK_GROUP"] == "analysts"
    assert values["RETAILOPS_ATHENA_SCHEMA"] == "other"


@pytest.mark.parametrize("environ, named", [
    ({}, "RETAILOPS_LAKE_BUCKET is not set"),
    ({"RETAILOPS_LAKE_BUCKET": "shop-lake"}, "RETAILOPS_ATHENA_WORK_GROUP is not set and cannot be derived"),
    ({"RETAILOPS_LAKE_BUCKET": "shop-lake", "RETAILOPS_PREFIX": "shop"},
     "RETAILOPS_ATHENA_S3_STAGING_DIR is not set and cannot be derived"),
    ({"RETAILOPS_LAKE_BUCKET": DEV_BUCKET, "RETAILOPS_PREFIX": "Bad_Prefix"}, "is not a deployment prefix"),
])
def test_what_cannot_be_derived_is_named(environ: dict[str, str], named: str):
    with pytest.raises(DeploymentConfigError, match=named) as error:
        athena_environment(environ)
    assert "\n" not in str(error.value) and "primary" not in str(error.value)


def aws_run_env(**values: str) -> dict[str, str]:
    """The caller's environment without any deployment variable, plus ``values``."""
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("RETAILOPS_", "AWS_"))}
    return {**base, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "eu-west-1", "KEDRO_DISABLE_TELEMETRY": "1", **values}


def test_a_run_reading_the_warehouse_stops_in_one_line_before_any_node(tmp_path: Path):
    project = tmp_path / "project"
    conf, _ = make_project(project)
    out = subprocess.run(
        [str(Path(sys.executable).parent / "kedro"), "run", "--env", "aws", "--conf-source", str(conf),
         "--pipelines", "validate", "--params", "run_date=2024-07-03"],
        cwd=project, env=aws_run_env(RETAILOPS_LAKE_BUCKET="shop-lake"), capture_output=True,
        text=True, timeout=300)
    assert out.returncode == 2, out.stderr[-2000:]
    errors = [line for line in out.stderr.splitlines() if line.startswith("retailops: error:")]
    assert errors == ["retailops: error: RETAILOPS_ATHENA_WORK_GROUP is not set and cannot be "
                      "derived: the lake bucket 'shop-lake' is not named "
                      "<prefix>-lake-<account>-<region> as deploy/cfn/01-lake.yaml names it; set "
                      "RETAILOPS_PREFIX (the deployment's Prefix) or RETAILOPS_ATHENA_WORK_GROUP"]
    assert "Running node" not in out.stderr and "Traceback" not in out.stderr


SESSION_PROBE = """
import json, os, sys
from pathlib import Path
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
bootstrap_project(Path.cwd())
with KedroSession.create(env="aws", conf_source=sys.argv[1]) as session:
    context = session.load_context()
    warehouse = context.catalog.load("warehouse")
    fact = context.catalog.load("fct_daily_sales")
    from retailops.warehouse import dbt
    from retailops.warehouse.dbt_project import dbt_vars
    parsed = dbt.invoke(["parse", "--target-path", sys.argv[2], "--vars",
                         json.dumps(dbt_vars(context.config_loader["globals"]["lake_root"]))], "athena")
    manifest = json.load(open(os.path.join(sys.argv[2], "manifest.json")))
    print(json.dumps({
        "workgroup": warehouse.workgroup, "fact": fact.qualified_name,
        "lake_root": context.config_loader["globals"]["lake_root"],
        "parsed": parsed.success,
        "profile_work_group": os.environ["RETAILOPS_ATHENA_WORK_GROUP"],
        "source_schemas": sorted({s["schema"] for s in manifest["sources"].values()}),
        "model_schemas": sorted({n["schema"] for n in manifest["nodes"].values()
                                 if n["resource_type"] == "model"}),
    }))
"""


def test_with_only_the_bucket_set_the_catalog_and_dbt_address_that_deployment(tmp_path: Path):
    """The documented laptop run: nothing but RETAILOPS_LAKE_BUCKET (and credentials)."""
    project = tmp_path / "project"
    conf, _ = make_project(project)
    out = subprocess.run([sys.executable, "-c", SESSION_PROBE, str(conf), str(tmp_path / "target")],
                         cwd=project, env=aws_run_env(RETAILOPS_LAKE_BUCKET=DEV_BUCKET),
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    found = json.loads(out.stdout.strip().splitlines()[-1])
    assert found == {
        "workgroup": "retailops-dev", "fact": "retailops_dev_marts.fct_daily_sales",
        "lake_root": f"s3://{DEV_BUCKET}", "parsed": True, "profile_work_group": "retailops-dev",
        # The raw tables, and the forecast marts (written by Python, read by dbt as sources).
        "source_schemas": ["retailops_dev_marts", "retailops_dev_raw"],
        "model_schemas": ["retailops_dev_marts", "retailops_dev_staging"],
    }
