"""Availability: each file is judged on its own; only the mart's inputs can stop a run."""

from __future__ import annotations

import pytest

from favorita_fixtures import write_download
from retailops.favorita.availability import StageOptions, check_and_stage, require_tables
from retailops.favorita.duck import DuckSettings
from retailops.favorita.errors import FavoritaInputError


def test_an_unparseable_file_is_reported_and_the_others_still_load(tmp_path):
    download = tmp_path / "download"
    write_download(download)
    (download / "oil.csv").write_text("date,dcoilwtico\n2013-01-02,93.14\n2013-01-03,n/a\n")
    (download / "items.csv").write_text("item_nbr,family,class,perishable\nabc,GROCERY I,1093,0\n")
    (download / "transactions.csv").unlink()
    (download / "transactions.csv.gz").write_bytes(b"\x1f\x8b not really gzip")
    settings = DuckSettings(temp_directory=str(tmp_path / "tmp"))
    strict = StageOptions(expect_release="sample", max_rejected_rows=0)
    availability = check_and_stage(download, tmp_path / "out", settings, strict).set_index("table")
    assert availability.loc["oil", "status"] == "rejected"
    assert "dcoilwtico" in availability.loc["oil", "error"] and "\n" not in availability.loc["oil", "error"]
    assert availability.loc["transactions", "status"] == "unreadable"
    assert availability.loc["transactions", "filename"] == "transactions.csv.gz"
    assert availability.loc["train", "status"] == "ok" and availability.loc["stores", "status"] == "ok"
    assert not (tmp_path / "out" / "staged" / "oil.parquet").exists()
    with pytest.raises(FavoritaInputError, match=r"items\.csv \(rejected: .*item_nbr"):
        require_tables(availability.reset_index(), download)


def test_a_folder_that_does_not_exist_is_one_clear_error(tmp_path):
    with pytest.raises(FavoritaInputError, match="is not a folder"):
        check_and_stage(tmp_path / "nowhere", tmp_path / "out", DuckSettings(temp_directory=str(tmp_path)))
