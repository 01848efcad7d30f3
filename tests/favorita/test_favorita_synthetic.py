"""The benchmark's generator writes a download the pipeline accepts, with the real quirks."""

from __future__ import annotations

import pandas as pd

from retailops.favorita.availability import StageOptions, check_and_stage, require_tables
from retailops.favorita.duck import DuckSettings, connect
from retailops.favorita.quality import build_checks, run_checks
from retailops.favorita.synthetic import write_download


def test_generated_download_has_the_real_shape(tmp_path):
    write_download(tmp_path / "download", train_rows=30_000, n_stores=6, n_items=80, seed=1)
    header = (tmp_path / "download" / "train.csv").read_text().splitlines()[0]
    assert header == "id,date,store_nbr,item_nbr,unit_sales,onpromotion"
    settings = DuckSettings(temp_directory=str(tmp_path / "tmp"))
    availability = check_and_stage(
        tmp_path / "download", tmp_path / "out", settings, StageOptions(expect_release="sample")
    )
    staged = require_tables(availability, tmp_path / "download")
    assert set(staged) == {"train", "test", "stores", "items", "oil", "holidays_events", "transactions"}
    rows = availability.set_index("table").loc["train", "rows"]
    assert 25_000 < rows < 35_000
    train = pd.read_parquet(staged["train"])
    assert train["id"].is_monotonic_increasing and train["date"].is_monotonic_increasing
    early = pd.to_datetime(train["date"]) < "2014-04-01"
    assert train.loc[early, "onpromotion"].isna().all() and train.loc[~early, "onpromotion"].notna().all()
    assert (train["unit_sales"] % 1 != 0).any()  # weighed items
    params = {"expected_dates": {}, "calendar": {}, "limits": {}}
    with connect(settings) as con:
        quality = run_checks(con, staged, build_checks(params)).set_index("check")
    for check in ("train.primary_key_unique", "train.date_store_item_unique", "train.item_nbr_in_items",
                  "train.store_nbr_in_stores", "transactions.store_nbr_in_stores", "test.after_train"):
        assert quality.loc[check, "status"] == "passed", check
