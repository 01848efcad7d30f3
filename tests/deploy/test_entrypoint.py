"""The image's entrypoint, run outside Docker: argument checks, and a real ingest into moto's S3."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

import boto3
import pytest

from tests.deploy.cfn_render import REPO

ENTRYPOINT = REPO / "deploy" / "ecs" / "entrypoint.py"


def run_entrypoint(*args: str, env: dict[str, str], timeout: int = 300) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("RETAILOPS_", "AWS_"))}
    return subprocess.run([sys.executable, str(ENTRYPOINT), *args], cwd=REPO, env={**base, **env},
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("bad, message", [
    ("2024-02-30", "not a real calendar date"),
    ("2024/07/01", "not in the form YYYY-MM-DD"),
    ("yesterday", "not in the form YYYY-MM-DD"),
])
def test_a_bad_run_date_is_one_line_and_exit_2(bad: str, message: str):
    out = run_entrypoint(bad, env={"RETAILOPS_LAKE_BUCKET": "lake"})
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and message in out.stderr


def test_the_aws_env_needs_the_lake_bucket():
    out = run_entrypoint("2024-07-01", env={})
    assert out.returncode == 2 and "RETAILOPS_LAKE_BUCKET is not set" in out.stderr


@pytest.mark.parametrize("extra", ["scale", "run_date=2024-07-02", "=1"])
def test_bad_extra_params_are_refused(extra: str):
    out = run_entrypoint("2024-07-01", env={"RETAILOPS_LAKE_BUCKET": "lake", "RETAILOPS_EXTRA_PARAMS": extra})
    assert out.returncode == 2 and "RETAILOPS_EXTRA_PARAMS" in out.stderr


def test_without_a_date_it_runs_yesterday_utc():
    sys.path.insert(0, str(ENTRYPOINT.parent))
    try:
        import entrypoint
    finally:
        sys.path.pop(0)
    from datetime import date
    assert entrypoint.parse_run_date(None, today=date(2024, 3, 1)) == date(2024, 2, 29)
    command = entrypoint.kedro_command(date(2024, 7, 1), {"RETAILOPS_LAKE_BUCKET": "lake",
                                                          "RETAILOPS_CONF_SOURCE": "/app/conf"})
    assert command[1:] == ["-m", "retailops", "--env", "aws", "--pipelines", "daily",
                           "--params", "run_date=2024-07-01", "--conf-source", "/app/conf"]


def test_ingest_through_the_entrypoint_lands_partitions_and_manifests_in_s3(aws_env):
    s3 = boto3.client("s3")
    bucket = "retailops-lake-entrypoint-test"
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    env = {**aws_env, "RETAILOPS_LAKE_BUCKET": bucket, "RETAILOPS_PIPELINES": "ingest",
           "RETAILOPS_EXTRA_PARAMS": "scale=0.02", "KEDRO_DISABLE_TELEMETRY": "1"}
    out = run_entrypoint("2024-07-03", env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "retailops entrypoint: run date 2024-07-03" in out.stderr

    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]}
    for table in ("sales", "inventory", "shipments"):
        assert f"raw/{table}/dt=2024-07-03/{table}.csv" in keys
        manifest_key = f"metadata/manifests/{table}/dt=2024-07-03/manifest.json"
        assert manifest_key in keys
        manifest = json.loads(s3.get_object(Bucket=bucket, Key=manifest_key)["Body"].read())
        assert manifest["table"] == table and manifest["dt"] == "2024-07-03"
        assert {"rows", "sha256", "written_at", "generator_version"} <= set(manifest)
        body = s3.get_object(Bucket=bucket, Key=f"raw/{table}/dt=2024-07-03/{table}.csv")["Body"].read()
        assert manifest["rows"] == body.count(b"\n") - 1 > 0
        assert manifest["sha256"] == hashlib.sha256(body).hexdigest()
    for table in ("products", "stores", "suppliers"):
        assert f"raw/{table}/{table}.csv" in keys
    assert "metadata/defects/dt=2024-07-03/defects.csv" in keys
    # Only the run date was landed.
    assert not any("dt=2024-07-02" in key and key.startswith("raw/") for key in keys)
