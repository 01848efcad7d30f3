"""`kedro run --pipelines ingest` as a user runs it: locally, on S3, and with bad input."""

from __future__ import annotations

import json
from datetime import date

import boto3
import pytest

from tests.conftest import conf_with_lake, free_port, run_kedro

from .helpers import tree_digest

SMALL = "scale=0.03"
# The supported range ends on Dec 31 of next year (calendar_years_ahead: 1).
NEXT_NEXT_YEAR = date.today().year + 2


@pytest.fixture(scope="module")
def landed(tmp_path_factory):
    """Two days landed through the command line; later tests must leave them untouched."""
    tmp = tmp_path_factory.mktemp("cli")
    lake = tmp / "lake"
    conf = conf_with_lake(tmp, str(lake))
    result = run_kedro("run", "--pipelines", "ingest", "--conf-source", str(conf),
                       "--params", f"start_date=2024-07-01,end_date=2024-07-02,{SMALL}")
    assert result.returncode == 0, result.stderr + result.stdout
    return conf, lake, result


def test_ingest_lands_the_window_and_logs_progress_per_day(landed):
    _, lake, result = landed
    for dt in ("2024-07-01", "2024-07-02"):
        assert (lake / f"metadata/manifests/sales/dt={dt}/manifest.json").is_file()
        assert f"{dt} landed sales+inventory+shipments: sales " in result.stdout
    assert "rows/s" in result.stdout


def test_run_date_lands_one_day(landed, tmp_path):
    conf, _, _ = landed
    lake = tmp_path / "lake"
    conf = conf_with_lake(tmp_path, str(lake))
    result = run_kedro("run", "--pipelines", "ingest", "--conf-source", str(conf),
                       "--params", f"run_date=2024-07-05,{SMALL}")
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (lake / "raw/sales").iterdir()) == ["dt=2024-07-05"]
    # history before the day was replayed to reach it, and left a checkpoint for tomorrow
    assert (lake / "metadata/state/dt=2024-07-05/state.npz.zst").is_file()


@pytest.mark.parametrize("params, message", [
    ("start_date=2024-02-30", "start_date='2024-02-30' is not a valid date"),
    ("start_date=2024-07-10,end_date=2024-07-01", "start_date=2024-07-10 is after end_date=2024-07-01"),
    ("start_date=2024-06-30,end_date=2024-07-01", "start_date=2024-06-30 is outside the supported range"),
    (f"run_date={NEXT_NEXT_YEAR}-01-01",
     f"run_date={NEXT_NEXT_YEAR}-01-01 is outside the supported range"),
    ("colour=blue", "unknown parameter(s) colour"),
    ("simulation.defect_rates.typo=0.1", "unknown parameter(s) simulation.defect_rates.typo"),
    ("scale=-1", "scale=-1.0 must be between"),
])
def test_bad_parameters_end_in_one_line_and_change_nothing(landed, params, message):
    conf, lake, _ = landed
    before = tree_digest(lake)
    result = run_kedro("run", "--pipelines", "ingest", "--conf-source", str(conf),
                       "--params", params)
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [f"retailops: error: {message}"] or (
        result.stderr.strip().count("\n") == 0 and message in result.stderr), result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert tree_digest(lake) == before


def test_an_unwritable_lake_root_is_named(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    conf = conf_with_lake(tmp_path, str(blocker / "lake"))
    result = run_kedro("run", "--pipelines", "ingest", "--conf-source", str(conf),
                       "--params", f"run_date=2024-07-01,{SMALL}")
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("retailops: error: cannot write")
    assert str(blocker / "lake") in lines[0]


# --- S3, over HTTP, against moto's server ------------------------------------------------------

def _aws_run(aws_env, bucket, *params, endpoint=None):
    env = {**aws_env, "RETAILOPS_LAKE_BUCKET": bucket}
    if endpoint:
        env["AWS_ENDPOINT_URL"] = endpoint
    return run_kedro("run", "--env", "aws", "--pipelines", "ingest", "--params", ",".join(params),
                     env=env)


def test_ingest_on_s3_writes_partitions_manifests_and_object_metadata(aws_env):
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="retailops-it")
    result = _aws_run(aws_env, "retailops-it", "start_date=2024-07-01", "end_date=2024-07-02", SMALL)
    assert result.returncode == 0, result.stderr + result.stdout[-2000:]
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket="retailops-it")["Contents"]}
    for table in ("sales", "inventory", "shipments"):
        for dt in ("2024-07-01", "2024-07-02"):
            assert f"raw/{table}/dt={dt}/{table}.csv" in keys
            assert f"metadata/manifests/{table}/dt={dt}/manifest.json" in keys
    assert {"raw/products/products.csv", "raw/stores/stores.csv",
            "raw/suppliers/suppliers.csv"} <= keys
    head = s3.head_object(Bucket="retailops-it", Key="raw/sales/dt=2024-07-02/sales.csv")
    manifest = json.loads(s3.get_object(
        Bucket="retailops-it", Key="metadata/manifests/sales/dt=2024-07-02/manifest.json")["Body"].read())
    assert head["Metadata"]["table"] == "sales"
    assert int(head["Metadata"]["rows"]) == manifest["rows"] > 0
    assert head["Metadata"]["written-at"] == manifest["written_at"]

    # A re-run lands nothing new: the objects keep their ETags and timestamps.
    before = {o["Key"]: (o["ETag"], o["LastModified"])
              for o in s3.list_objects_v2(Bucket="retailops-it", Prefix="raw/sales/")["Contents"]}
    again = _aws_run(aws_env, "retailops-it", "start_date=2024-07-01", "end_date=2024-07-02", SMALL)
    assert again.returncode == 0, again.stderr
    after = {o["Key"]: (o["ETag"], o["LastModified"])
             for o in s3.list_objects_v2(Bucket="retailops-it", Prefix="raw/sales/")["Contents"]}
    assert after == before


def test_a_missing_bucket_is_named(aws_env):
    result = _aws_run(aws_env, "no-such-bucket", "run_date=2024-07-01", SMALL)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "s3://no-such-bucket" in lines[0], result.stderr


def test_an_unreachable_endpoint_is_named(aws_env):
    result = _aws_run(aws_env, "retailops-it", "run_date=2024-07-01", SMALL,
                      endpoint=f"http://127.0.0.1:{free_port()}")
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "s3://retailops-it" in lines[0] and "connect" in lines[0].lower()


def test_missing_credentials_are_named(aws_env, tmp_path):
    env = {k: v for k, v in aws_env.items() if not k.startswith("AWS_ACCESS_KEY")
           and not k.startswith("AWS_SECRET")}
    env.update({"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "",
                "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
                "AWS_CONFIG_FILE": str(tmp_path / "none"), "AWS_EC2_METADATA_DISABLED": "true",
                "RETAILOPS_LAKE_BUCKET": "retailops-it"})
    result = run_kedro("run", "--env", "aws", "--pipelines", "ingest", "--params",
                       f"run_date=2024-07-01,{SMALL}", env=env)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "credentials" in lines[0].lower(), result.stderr
