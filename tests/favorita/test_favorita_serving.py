"""The Favorita mart in front of readers: published in schema ``favorita`` of the serving file,
and the Favorita dashboard's questions answered from it with the fixture's own numbers."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import pytest
import yaml

from favorita_fixtures import STORES
from retailops.dashboards.metabase import load_spec
from retailops.warehouse.serving import PublishError, publish_serving

PROJECT = Path(__file__).resolve().parents[2]
SPEC = yaml.safe_load((PROJECT / "conf/base/metabase/dashboards.yml").read_text())
VIEW = "favorita.daily_sales_store_family"


def _tiny_warehouse(root: Path) -> tuple[Path, Path]:
    """A warehouse with one mart and its curated Parquet: the least publish accepts."""
    lake, warehouse = root / "lake", root / "warehouse.duckdb"
    (lake / "curated" / "fct_one").mkdir(parents=True)
    with duckdb.connect(str(warehouse)) as con:
        con.execute("create schema marts")
        con.execute("create table marts.fct_one as select range as n from range(3)")
        con.execute(f"copy marts.fct_one to '{lake / 'curated/fct_one/fct_one.parquet'}' (format parquet)")
    return lake, warehouse


@pytest.fixture(scope="module")
def served(clean_run, tmp_path_factory):
    root = tmp_path_factory.mktemp("serving")
    lake, warehouse = _tiny_warehouse(root)
    mart = clean_run.out_dir / "mart" / "daily_sales_store_family.parquet"
    publication = publish_serving(
        warehouse, root / "serving.duckdb", lake, copied_relations=(),
        published_parquet={"favorita": {"daily_sales_store_family": str(mart)}})
    return publication, root / "serving.duckdb"


def _query(path: Path, sql: str) -> pd.DataFrame:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(sql).df()


def _question(key: str) -> str:
    return SPEC["questions"][key]["sql"]


def test_the_mart_is_served_in_the_favorita_schema(served, clean_run):
    publication, path = served
    assert VIEW in publication.views and "marts.fct_one" in publication.views
    mart = clean_run.table("mart/daily_sales_store_family.parquet")
    assert publication.rows[VIEW] == len(mart)
    assert _query(path, f"select count(*) as n from {VIEW}")["n"].item() == len(mart)
    kinds = _query(path, "select relation, kind, row_count from main.publication").set_index("relation")
    assert kinds.loc[VIEW, "kind"] == "view" and kinds.loc[VIEW, "row_count"] == len(mart)


def test_a_study_not_run_yet_is_left_out_and_a_warehouse_schema_is_refused(tmp_path):
    lake, warehouse = _tiny_warehouse(tmp_path)
    publication = publish_serving(
        warehouse, tmp_path / "serving.duckdb", lake, copied_relations=(),
        published_parquet={"favorita": {"daily_sales_store_family": str(tmp_path / "none.parquet")}})
    assert publication.views == ("marts.fct_one",)
    with pytest.raises(PublishError, match="schema 'marts' is the warehouse's own"):
        publish_serving(warehouse, tmp_path / "serving.duckdb", lake, copied_relations=(),
                        published_parquet={"marts": {"x": str(tmp_path / "none.parquet")}})


def test_a_study_file_that_is_not_parquet_is_named_and_the_publication_stays(tmp_path):
    lake, warehouse = _tiny_warehouse(tmp_path)
    serving = tmp_path / "serving.duckdb"
    publish_serving(warehouse, serving, lake, copied_relations=())
    broken = tmp_path / "half_written.parquet"
    broken.write_bytes(b"PAR1 not a parquet file")
    with pytest.raises(PublishError) as caught:
        publish_serving(warehouse, serving, lake, copied_relations=(),
                        published_parquet={"favorita": {"daily_sales_store_family": str(broken)}})
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"favorita.daily_sales_store_family: {broken} is not readable Parquet: ")
    # Nothing lost: the previous publication still answers, without the refused view.
    assert _query(serving, "select count(*) as n from marts.fct_one")["n"].item() == 3
    assert VIEW not in set(_query(serving, "select relation from main.publication")["relation"])


def test_the_favorita_dashboard_is_in_the_spec_on_the_grid():
    spec = load_spec(SPEC)
    dashboard = next(d for d in spec.dashboards if d.key == "favorita")
    questions = {card.question for card in dashboard.cards}
    assert questions == {key for key in SPEC["questions"] if key.startswith("favorita_")}
    assert all(card.col + card.size_x <= 24 for card in dashboard.cards)
    assert all(VIEW in SPEC["questions"][key]["sql"] for key in questions)


def test_sales_by_day_and_by_store_equal_the_fixture(served, clean_run):
    _, path = served
    train = clean_run.written["train"].assign(date=lambda f: pd.to_datetime(f["date"]))
    by_day = _query(path, _question("favorita_sales_by_day")).set_index("date")
    expected_day = train.groupby("date")["unit_sales"].sum()
    assert by_day["unit_sales"].tolist() == pytest.approx(expected_day.tolist())
    by_store = _query(path, _question("favorita_sales_by_store")).set_index("store_nbr")
    expected_store = train.groupby("store_nbr")["unit_sales"].sum()
    assert by_store.loc[expected_store.index, "unit_sales"].tolist() == pytest.approx(expected_store.tolist())
    # Transactions are one count per store-day: summed once, not once per family.
    transactions = clean_run.written["transactions"].groupby("store_nbr")["transactions"].sum()
    assert by_store.loc[transactions.index, "transactions"].tolist() == transactions.tolist()
    assert by_store.loc[3, "city"] == STORES.set_index("store_nbr").loc[3, "city"]


def test_holidays_oil_promotions_and_families_answer_from_the_mart(served, clean_run):
    _, path = served
    kinds = _query(path, _question("favorita_holidays_beside_sales")).set_index("day_kind")
    # The fixture's train days off: 2013-01-01, 2013-12-24 (additional) and 2014-12-26 (bridge),
    # national, for all 4 stores; Cotopaxi's day for store 4; Guayaquil's transfer for store 3.
    assert kinds.loc["national holiday", "store_days"] == 3 * 4
    assert kinds.loc["regional holiday", "store_days"] == 1
    assert kinds.loc["local holiday", "store_days"] == 1
    oil = _query(path, _question("favorita_oil_beside_sales")).set_index("date")
    listed = clean_run.written["oil"].assign(date=lambda f: pd.to_datetime(f["date"])).set_index("date")
    assert oil.loc["2013-01-15", "oil_price"] == pytest.approx(float(listed.loc["2013-01-15", "dcoilwtico"]))
    promotions = _query(path, _question("favorita_promotions_by_day"))
    assert pd.to_datetime(promotions["date"]).min() == pd.Timestamp("2014-04-01")
    assert promotions["promoted_share"].between(0, 1).all()
    families = _query(path, _question("favorita_sales_by_family"))
    train = clean_run.written["train"]
    from favorita_fixtures import ITEMS

    expected = train.merge(ITEMS, on="item_nbr").groupby("family")["unit_sales"].sum()
    got = families.set_index("family")["unit_sales"]
    assert got.loc[expected.index].tolist() == pytest.approx(expected.tolist())
