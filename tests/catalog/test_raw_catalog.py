"""The raw zone through the Kedro catalog, the way Kedro users read partitioned data.

``catalog.load("raw_sales")`` is a kedro-datasets ``PartitionedDataset``: one lazy loader per
*complete* partition (a manifest under ``metadata/manifests/<table>/dt=.../``), keyed
``dt=YYYY-MM-DD``. The expected keys and row counts below come from the files the ingest run
left on disk (or in the bucket), never from the datasets under test.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from kedro.io import DatasetError

from tests.catalog.conftest import session_in
from tests.catalog.project import relative_project

DAYS = ("2024-07-01", "2024-07-02", "2024-07-03", "2024-07-04", "2024-07-05")
# Column order of the contract (../../shared/CONTRACT.md, "Raw tables"), written out here.
CONTRACT_COLUMNS = {
    "sales": ["sale_id", "sold_at", "store_id", "product_id", "quantity", "unit_price",
              "discount_pct"],
    "inventory": ["snapshot_date", "store_id", "product_id", "quantity_on_hand",
                  "quantity_on_order", "reorder_point"],
    "shipments": ["shipment_id", "line_number", "supplier_id", "store_id", "product_id",
                  "order_date", "expected_date", "received_date", "quantity_ordered",
                  "quantity_received"],
}


def _manifest_rows(lake: Path, table: str, dt: str) -> int:
    manifest = lake / f"metadata/manifests/{table}/dt={dt}/manifest.json"
    return json.loads(manifest.read_text())["rows"]


@pytest.fixture
def lake_with_an_incomplete_day(landed_project, tmp_path):
    """A copy of the landed project where 2024-07-02 of every fact table lost its manifest (a
    crash between data and manifest) and a half-written temporary file lies in a partition."""
    project = tmp_path / "project"
    shutil.copytree(landed_project, project)
    lake = project / "data" / "lake"
    for table in CONTRACT_COLUMNS:
        (lake / f"metadata/manifests/{table}/dt=2024-07-02/manifest.json").unlink()
    (lake / "raw/sales/dt=2024-07-05/.tmp-abc.part").write_text("sale_id\n1\n")
    return project


def test_a_raw_fact_table_loads_one_loader_per_complete_partition(lake_with_an_incomplete_day):
    project = lake_with_an_incomplete_day
    lake = project / "data" / "lake"
    with session_in(project, project / "notebooks") as session:
        catalog = session.load_context().catalog
        for table, columns in CONTRACT_COLUMNS.items():
            partitions = catalog.load(f"raw_{table}")

            assert sorted(partitions) == [f"dt={d}" for d in DAYS if d != "2024-07-02"], table
            assert all(callable(load) for load in partitions.values())
            frame = partitions["dt=2024-07-05"]()
            assert isinstance(frame, pd.DataFrame)
            assert list(frame.columns)[: len(columns)] == columns
            assert len(frame) == _manifest_rows(lake, table, "2024-07-05") > 0, table


def test_every_landed_day_is_listed_once_its_manifest_exists(landed_project):
    with session_in(landed_project, landed_project) as session:
        catalog = session.load_context().catalog
        assert sorted(catalog.load("raw_sales")) == [f"dt={d}" for d in DAYS]
        assert catalog.exists("raw_sales") and catalog.exists("raw_days")


def test_a_raw_dimension_loads_as_a_dataframe(landed_project):
    with session_in(landed_project, landed_project / "notebooks") as session:
        catalog = session.load_context().catalog
        for table in ("products", "stores", "suppliers"):
            path = landed_project / "data" / "lake" / "raw" / table / f"{table}.csv"
            with path.open(newline="") as handle:
                rows = list(csv.reader(handle))
            frame = catalog.load(f"raw_{table}")
            assert list(frame.columns) == rows[0]
            assert frame.iloc[:, 0].astype(str).tolist() == [r[0] for r in rows[1:]]


def test_raw_partitions_are_read_only_through_the_catalog(landed_project):
    """Partitions are landed by the ingest pipeline under the commit protocol (data, then
    manifest); a save through PartitionedDataset would write data with no manifest."""
    lake = landed_project / "data" / "lake"
    before = sorted(p.relative_to(lake) for p in lake.rglob("*"))
    with session_in(landed_project, landed_project) as session:
        catalog = session.load_context().catalog
        with pytest.raises(DatasetError, match="ingest"):
            catalog.save("raw_sales", {"dt=2024-07-09": pd.DataFrame({"sale_id": [1]})})
    assert sorted(p.relative_to(lake) for p in lake.rglob("*")) == before


def test_a_lake_without_complete_partitions_says_where_it_looked(tmp_path):
    project = relative_project(tmp_path / "project")
    incomplete = project / "data/lake/raw/sales/dt=2024-07-01"
    incomplete.mkdir(parents=True)
    (incomplete / "sales.csv").write_text("sale_id\n1\n")
    with session_in(project, project / "notebooks") as session:
        catalog = session.load_context().catalog
        assert not catalog.exists("raw_sales") and not catalog.exists("raw_days")
        with pytest.raises(DatasetError) as error:
            catalog.load("raw_sales")
    message = str(error.value)
    assert str(project / "data/lake/raw/sales") in message
    assert "metadata/manifests/sales" in message


def test_raw_entries_sit_in_the_raw_layer_of_kedro_viz(landed_project):
    names = ["raw_sales", "raw_inventory", "raw_shipments", "raw_products", "raw_stores",
             "raw_suppliers"]
    with session_in(landed_project, landed_project) as session:
        catalog = session.load_context().catalog
        layers = {name: catalog.get(name).metadata for name in names}
    assert layers == {name: {"kedro-viz": {"layer": "raw"}} for name in names}


def test_raw_sales_on_s3_lists_only_complete_partitions(landed_project, aws_env, monkeypatch,
                                                       tmp_path):
    """The same catalog entries with ``--env aws``: the lake is a bucket, read by s3fs over HTTP
    (the landed lake's raw zone and manifests uploaded as they are)."""
    import boto3

    bucket = "retailops-catalog"
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=bucket)
    lake = landed_project / "data" / "lake"
    for file in [*(lake / "raw").rglob("*.csv"), *(lake / "metadata/manifests").rglob("*.json")]:
        s3.upload_file(str(file), bucket, file.relative_to(lake).as_posix())
    s3.delete_object(Bucket=bucket, Key="metadata/manifests/sales/dt=2024-07-01/manifest.json")
    monkeypatch.setenv("RETAILOPS_LAKE_BUCKET", bucket)
    project = relative_project(tmp_path / "project")

    with session_in(project, project / "notebooks", env="aws") as session:
        catalog = session.load_context().catalog
        partitions = catalog.load("raw_sales")
        frame = partitions["dt=2024-07-05"]()
        stores = catalog.load("raw_stores")
    assert sorted(partitions) == [f"dt={d}" for d in DAYS if d != "2024-07-01"]
    assert len(frame) == _manifest_rows(lake, "sales", "2024-07-05") > 0
    assert list(frame.columns)[:7] == CONTRACT_COLUMNS["sales"]
    assert stores["store_id"].is_unique and len(stores) > 0
    assert not (project / "data").exists() and not (project / "notebooks" / "data").exists()


def test_credentials_reach_both_the_partitions_and_their_manifests(landed_project, s3_endpoint,
                                                                   monkeypatch):
    """Credentials are given the kedro-datasets way (``credentials:`` for fsspec) and serve the
    partition listing, the manifests that decide completeness and the commit protocol's dataset
    alike: with no endpoint in the environment, only the credentials know where S3 is."""
    import boto3

    from retailops.lake.datasets import CompletePartitionsDataset, RawDaysDataset

    for name in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    credentials = {"key": "testing", "secret": "testing",
                   "client_kwargs": {"endpoint_url": s3_endpoint}}
    s3 = boto3.client("s3", endpoint_url=s3_endpoint, aws_access_key_id="testing",
                      aws_secret_access_key="testing")
    bucket = "retailops-credentials"
    s3.create_bucket(Bucket=bucket)
    lake = landed_project / "data" / "lake"
    for table in ("inventory",):
        for file in [*(lake / "raw" / table).rglob("*.csv"),
                     *(lake / "metadata/manifests" / table).rglob("*.json")]:
            s3.upload_file(str(file), bucket, file.relative_to(lake).as_posix())
    s3.delete_object(Bucket=bucket, Key="metadata/manifests/inventory/dt=2024-07-03/manifest.json")

    partitions = CompletePartitionsDataset(path=f"s3://{bucket}/raw/inventory",
                                           credentials=credentials).load()
    days = RawDaysDataset(path=f"s3://{bucket}", credentials=credentials).load()

    expected = [d for d in DAYS if d != "2024-07-03"]
    assert sorted(partitions) == [f"dt={d}" for d in expected]
    assert len(partitions["dt=2024-07-05"]()) == _manifest_rows(lake, "inventory", "2024-07-05")
    assert [d.isoformat() for d in days["inventory"]] == expected
    assert days["sales"] == [] and days["shipments"] == []


def test_the_promotion_plan_loads_one_loader_per_complete_publication(landed_project):
    """``raw_promotions``: the Mondays' publications the same way (2024-07-01..05 lands one)."""
    lake = landed_project / "data" / "lake"
    with session_in(landed_project, landed_project / "notebooks") as session:
        catalog = session.load_context().catalog
        partitions = catalog.load("raw_promotions")
        frame = partitions["dt=2024-07-01"]()
        published = catalog.load("raw_promotion_plans")
    assert sorted(partitions) == ["dt=2024-07-01"]
    assert list(frame.columns) == ["published_date", "product_id", "start_date", "end_date",
                                   "discount_pct"]
    assert len(frame) == _manifest_rows(lake, "promotions", "2024-07-01") > 0
    assert [d.isoformat() for d in published] == ["2024-07-01"]
    assert catalog.get("raw_promotions").metadata == {"kedro-viz": {"layer": "raw"}}
