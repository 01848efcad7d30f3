"""The image's entrypoint, run outside Docker: argument checks, and a real ingest into moto's S3."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

from datetime import date, datetime, timedelta, timezone

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


def load_entrypoint():
    sys.path.insert(0, str(ENTRYPOINT.parent))
    try:
        import entrypoint
    finally:
        sys.path.pop(0)
    return entrypoint


@pytest.mark.parametrize("moment, day", [
    ("2024-07-02T06:00:00Z", "2024-07-01"),        # the 06:00 UTC schedule: yesterday
    ("2024-03-01T06:00:00Z", "2024-02-29"),        # across a leap day
    ("2025-01-01T06:00:00Z", "2024-12-31"),        # across a year
    ("2024-07-02T00:00:00Z", "2024-07-01"),        # at midnight the day just ended is complete
    ("2024-07-02T01:30:00+02:00", "2024-06-30"),   # 23:30 UTC on 07-01: its day is not over
])
def test_the_run_date_rule_is_the_utc_day_before_the_moment(moment: str, day: str):
    out = run_entrypoint("--pipelines", "ingest", "--scheduled-time", moment, "--dry-run",
                         env={"RETAILOPS_LAKE_BUCKET": "lake"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["-m", "retailops", "--env", "aws", "--pipelines", "ingest",
                                  "--params", f"run_date={day}"]


def test_each_form_of_days_becomes_the_kedro_parameters_of_that_form():
    entrypoint = load_entrypoint()
    env = {"RETAILOPS_LAKE_BUCKET": "lake"}

    def params(*args: str) -> list[str]:
        out = run_entrypoint(*args, "--dry-run", env=env)
        assert out.returncode == 0, out.stderr
        words = out.stdout.split()
        return [words[words.index("--pipelines") + 1], words[words.index("--params") + 1]]

    assert params("2024-07-05") == ["daily", "run_date=2024-07-05"]
    assert params("--pipelines", "transform", "--run-date", "2024-07-05") == [
        "transform", "run_date=2024-07-05"]
    # The Forecast step: a young lake's short history skips the forecast instead of failing.
    assert params("--pipelines", "forecast", "--run-date", "2024-07-05") == [
        "forecast", "run_date=2024-07-05,forecast.when_history_short=skip"]
    # A backfill: the range, and no run_date (ingest lands it, validate checks exactly it).
    assert params("--pipelines", "validate", "--date-range", "2024-07-01..2026-11-29") == [
        "validate", "start_date=2024-07-01,end_date=2026-11-29"]
    # No date: the same rule applied to the clock.
    today = datetime.now(timezone.utc).date()
    assert params("--pipelines", "ingest") == [
        "ingest", f"run_date={(today - timedelta(days=1)).isoformat()}"]
    assert entrypoint.resolve_run(now=datetime(2024, 7, 2, 6, tzinfo=timezone.utc)).last == date(2024, 7, 1)


@pytest.mark.parametrize("args, message", [
    (["--date-range", "2024-07-05..2024-07-01"], "starts after it ends"),
    (["--date-range", "2024-07-01"], "not in the form YYYY-MM-DD..YYYY-MM-DD"),
    (["--date-range", "2024-07-01..2024-02-30"], "range end '2024-02-30' is not a real calendar date"),
    (["--scheduled-time", "2024-07-02T06:00:00"], "has no time zone"),
    (["--scheduled-time", "yesterday"], "is not an ISO 8601 time"),
    (["2024-07-01", "--scheduled-time", "2024-07-02T06:00:00Z"], "give one of"),
    (["2024-07-01", "--run-date", "2024-07-01"], "give the run date once"),
    (["--pipelines", "ingest;rm", "2024-07-01"], "is not a comma-separated list of names"),
])
def test_bad_days_or_pipelines_are_one_line_and_exit_2(args: list[str], message: str):
    out = run_entrypoint(*args, env={"RETAILOPS_LAKE_BUCKET": "lake"})
    assert out.returncode == 2, out.stderr
    assert out.stderr.count("\n") == 1 and message in out.stderr, out.stderr


@pytest.mark.parametrize("key", ["start_date", "end_date"])
def test_extra_params_cannot_set_the_days(key: str):
    out = run_entrypoint("2024-07-01", env={"RETAILOPS_LAKE_BUCKET": "lake",
                                            "RETAILOPS_EXTRA_PARAMS": f"{key}=2024-07-01"})
    assert out.returncode == 2 and f"must not set {key}" in out.stderr


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
