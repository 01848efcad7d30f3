"""Trusting a real download: the release's files, columns, rows and dates; compressed files;
malformed rows; write errors. Each test breaks a small download the way a real one breaks."""

from __future__ import annotations

import gzip
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from favorita_fixtures import kedro_favorita_cli, run_favorita, write_download
from retailops.errors import RetailOpsError
from retailops.favorita.availability import StageOptions, check_and_stage, require_tables
from retailops.favorita.duck import DuckSettings, whole_reason
from retailops.favorita.errors import FavoritaInputError, FavoritaWriteError

SAMPLE = StageOptions(expect_release="sample")


def _stage(download: Path, out: Path, options: StageOptions = SAMPLE) -> pd.DataFrame:
    return check_and_stage(download, out, DuckSettings(temp_directory=str(out / "tmp")), options)


def _by_table(availability: pd.DataFrame) -> pd.DataFrame:
    return availability.set_index("table")


# --- the release: dates, rows, columns -------------------------------------------------------


def test_train_cut_at_2014_03_31_stops_the_run_with_both_date_ranges(tmp_path):
    written = write_download(tmp_path / "download")
    train = written["train"]
    train[pd.to_datetime(train["date"]) <= "2014-03-31"].to_csv(tmp_path / "download" / "train.csv", index=False)
    availability = _stage(tmp_path / "download", tmp_path / "out")
    row = _by_table(availability).loc["train"]
    assert row["status"] == "ok" and row["release_status"] == "failed"
    assert "2014-03-31" in row["release_note"] and "2017-08-15" in row["release_note"]
    with pytest.raises(FavoritaInputError) as caught:
        require_tables(availability, tmp_path / "download")
    message = str(caught.value)
    assert "\n" not in message and "train.csv" in message
    assert "2013-01-01..2014-03-31" in message and "2013-01-01..2017-08-15" in message


def test_a_short_optional_file_is_a_warning_with_the_dates_and_the_run_goes_on(tmp_path):
    written = write_download(tmp_path / "download")
    test = written["test"]
    test[test["date"] < "2017-08-31"].to_csv(tmp_path / "download" / "test.csv", index=False)
    availability = _stage(tmp_path / "download", tmp_path / "out")
    row = _by_table(availability).loc["test"]
    assert row["release_status"] == "warned"
    assert "2017-08-24" in row["release_note"] and "2017-08-31" in row["release_note"]
    staged = require_tables(availability, tmp_path / "download")  # no error: test is optional
    assert "test" in staged


def test_a_whole_clean_sample_passes_the_release_check(tmp_path):
    write_download(tmp_path / "download")
    availability = _by_table(_stage(tmp_path / "download", tmp_path / "out"))
    assert (availability["release_status"] == "passed").all(), availability["release_note"].to_dict()


def test_a_sample_taken_for_the_full_release_reports_expected_and_found_rows(tmp_path):
    written = write_download(tmp_path / "download")
    availability = _stage(tmp_path / "download", tmp_path / "out", StageOptions(expect_release="full"))
    train = _by_table(availability).loc["train"]
    assert train["release_status"] == "failed" and train["expected_rows"] == 125_497_040
    assert "125,497,040" in train["release_note"] and f"{len(written['train']):,}" in train["release_note"]
    stores = _by_table(availability).loc["stores"]
    assert stores["expected_rows"] == 54 and "54" in stores["release_note"]
    with pytest.raises(FavoritaInputError, match=r"train\.csv.*125,497,040"):
        require_tables(availability, tmp_path / "download")


def test_stores_with_city_and_state_swapped_is_caught_before_staging(tmp_path):
    written = write_download(tmp_path / "download")
    swapped = written["stores"][["store_nbr", "state", "city", "type", "cluster"]]
    swapped.to_csv(tmp_path / "download" / "stores.csv", index=False)
    availability = _stage(tmp_path / "download", tmp_path / "out")
    row = _by_table(availability).loc["stores"]
    assert row["status"] == "wrong_columns"
    assert "store_nbr, state, city, type, cluster" in row["error"]
    assert "store_nbr, city, state, type, cluster" in row["error"]
    assert not (tmp_path / "out" / "staged" / "stores.parquet").exists()
    with pytest.raises(FavoritaInputError, match=r"stores\.csv \(wrong_columns: .*state, city"):
        require_tables(availability, tmp_path / "download")


def test_kedro_run_on_a_truncated_train_exits_non_zero_with_one_line(tmp_path):
    written = write_download(tmp_path / "download")
    train = written["train"]
    train[pd.to_datetime(train["date"]) <= "2014-03-31"].to_csv(tmp_path / "download" / "train.csv", index=False)
    out = tmp_path / "out"
    params = (
        f"favorita.data_dir={tmp_path / 'download'},favorita.out_dir={out},"
        f"favorita.reports_dir={out},favorita.expect_release=sample"
    )
    done = kedro_favorita_cli(params)
    assert done.returncode != 0
    assert "train.csv" in done.stderr and "2013-01-01..2014-03-31" in done.stderr
    # Nothing lost: the availability table, with the verdict, was written before the stop.
    availability = _by_table(pd.read_parquet(out / "availability.parquet"))
    assert availability.loc["train", "release_status"] == "failed"


# --- compressed inputs -----------------------------------------------------------------------


def _zstd(source: Path, target: Path) -> None:
    """Compress a CSV with zstd (through DuckDB, which writes it natively)."""
    con = duckdb.connect()
    con.execute(
        f"COPY (SELECT * FROM read_csv('{source}', all_varchar = true, header = true)) "
        f"TO '{target}' (FORMAT csv, HEADER, COMPRESSION zstd)"
    )
    con.close()


def test_gzip_and_zstd_files_are_read_in_place(tmp_path):
    written = write_download(tmp_path / "download")
    download = tmp_path / "download"
    with open(download / "train.csv", "rb") as plain, gzip.open(download / "train.csv.gz", "wb") as packed:
        packed.write(plain.read())
    _zstd(download / "stores.csv", download / "stores.csv.zst")
    (download / "train.csv").unlink()
    (download / "stores.csv").unlink()
    availability = _by_table(_stage(download, tmp_path / "out"))
    assert availability.loc["train", "filename"] == "train.csv.gz"
    assert availability.loc["stores", "filename"] == "stores.csv.zst"
    assert availability.loc["train", "status"] == "ok" and availability.loc["stores", "status"] == "ok"
    assert availability.loc["train", "rows"] == len(written["train"])
    assert availability.loc["stores", "rows"] == len(written["stores"])
    staged = pd.read_parquet(tmp_path / "out" / "staged" / "stores.parquet")
    assert staged["city"].tolist() == written["stores"]["city"].tolist()


def test_a_7z_archive_gets_one_line_saying_how_to_extract_it(tmp_path):
    write_download(tmp_path / "download")
    download = tmp_path / "download"
    (download / "train.csv").unlink()
    (download / "train.csv.7z").write_bytes(b"7z\xbc\xaf\x27\x1c" + b"\0" * 32)
    availability = _stage(download, tmp_path / "out")
    assert _by_table(availability).loc["train", "status"] == "compressed_7z"
    with pytest.raises(FavoritaInputError) as caught:
        require_tables(availability, download)
    message = str(caught.value)
    assert "7z x train.csv.7z" in message and "missing" not in message and "\n" not in message


# --- malformed rows --------------------------------------------------------------------------


def _train_with_bad_rows(download: Path) -> list[int]:
    """Two malformed rows in train.csv; returns their line numbers (the header is line 1)."""
    lines = (download / "train.csv").read_text().splitlines()
    lines.insert(11, "99990,2013-01-01,1,96995,abc,")  # unit_sales is not a number
    lines.insert(31, "99991,2013-01-01,1")  # three fields of six
    (download / "train.csv").write_text("\n".join(lines) + "\n")
    return [12, 32]


def test_malformed_rows_go_to_the_reject_table_with_their_line_numbers(tmp_path):
    written = write_download(tmp_path / "download")
    bad_lines = _train_with_bad_rows(tmp_path / "download")
    availability = _by_table(
        _stage(tmp_path / "download", tmp_path / "out", StageOptions("sample", max_rejected_rows=5))
    )
    assert availability.loc["train", "status"] == "ok"
    assert availability.loc["train", "rows"] == len(written["train"])
    assert availability.loc["train", "rejected_rows"] == 2
    assert availability.loc["stores", "rejected_rows"] == 0
    rejects = pd.read_parquet(tmp_path / "out" / "rejects.parquet")
    train_rejects = rejects[rejects["table"] == "train"]
    assert sorted(train_rejects["line"].unique().tolist()) == bad_lines
    cast = train_rejects[train_rejects["line"] == 12].iloc[0]
    assert cast["column_name"] == "unit_sales" and "abc" in cast["error_message"]
    assert cast["csv_line"] == "99990,2013-01-01,1,96995,abc,"


def test_more_malformed_rows_than_allowed_stop_the_run_with_duckdbs_reason(tmp_path):
    write_download(tmp_path / "download")
    _train_with_bad_rows(tmp_path / "download")
    availability = _stage(tmp_path / "download", tmp_path / "out", StageOptions("sample", max_rejected_rows=1))
    assert _by_table(availability).loc["train", "status"] == "rejected"
    with pytest.raises(FavoritaInputError) as caught:
        require_tables(availability, tmp_path / "download")
    message = str(caught.value)
    assert "\n" not in message
    assert "2 malformed rows" in message and "favorita.max_rejected_rows = 1" in message
    assert "line 12" in message and 'Could not convert string "abc"' in message
    # The reject table was still written: nothing lost.
    assert len(pd.read_parquet(tmp_path / "out" / "rejects.parquet")) >= 2


def test_whole_reason_keeps_every_line_of_a_duckdb_error(tmp_path):
    path = tmp_path / "three_columns.csv"
    path.write_text("a,b,c\n1,2,3\n")
    with pytest.raises(duckdb.Error) as caught:
        duckdb.connect().execute(
            f"SELECT * FROM read_csv('{path}', header = true, columns = {{'a': 'INTEGER', 'b': 'INTEGER'}})"
        ).fetchall()
    raw = str(caught.value)
    assert raw.count("\n") > 2  # DuckDB's reason spans lines: the test needs that to mean anything
    reason = whole_reason(caught.value)
    assert "\n" not in reason
    last_reason_line = [line for line in raw.splitlines() if line.strip().startswith("* ")][-1].strip()
    assert raw.splitlines()[0].strip() in reason and last_reason_line in reason


def test_an_unreadable_file_names_duckdbs_whole_reason(tmp_path):
    download = tmp_path / "download"
    write_download(download)
    (download / "items.csv").write_text("item_nbr,family,class,perishable\nabc,GROCERY I,1093,0\n")
    availability = _stage(download, tmp_path / "out", StageOptions("sample", max_rejected_rows=0))
    with pytest.raises(FavoritaInputError) as caught:
        require_tables(availability, download)
    message = str(caught.value)
    assert 'items.csv (rejected: 1 malformed row' in message
    assert "line 2" in message and 'Could not convert string "abc" to \'INTEGER\'' in message


# --- write errors ----------------------------------------------------------------------------


def test_a_write_error_while_staging_is_a_write_error_not_unreadable_input(tmp_path):
    write_download(tmp_path / "download")
    out = tmp_path / "out"
    # The side file DuckDB writes train to is a folder: the write fails, the CSV is fine.
    (out / "staged" / "train.parquet.partial").mkdir(parents=True)
    with pytest.raises(FavoritaWriteError) as caught:
        _stage(tmp_path / "download", out)
    message = str(caught.value)
    assert isinstance(caught.value, RetailOpsError) and "\n" not in message
    assert "cannot write" in message and "train.parquet" in message and "unreadable" not in message


# --- test.csv cleaned and featured like train ------------------------------------------------


def test_test_csv_is_cleaned_and_featured_like_train(clean_run):
    test = clean_run.table("clean/test.parquet")
    train = clean_run.table("clean/train.parquet")
    assert len(test) == len(clean_run.written["test"])
    sales_only = {"unit_sales", "units_sold", "units_returned", "is_return", "is_fractional_units"}
    assert list(test.columns) == [c for c in train.columns if c not in sales_only]
    days = test.assign(date=pd.to_datetime(test["date"])).groupby(["date", "store_nbr"]).first()

    def value(day: str, store: int, column: str):
        return days.loc[(pd.Timestamp(day), store), column]

    assert value("2017-08-16", 1, "day_of_week") == 3  # a Wednesday
    assert value("2017-08-31", 1, "is_payday") and not value("2017-08-24", 1, "is_payday")
    assert value("2017-08-24", 3, "is_local_holiday") and value("2017-08-24", 3, "is_holiday")
    assert not value("2017-08-24", 1, "is_holiday")  # store 1 is in Quito
    assert test["promotion_recorded"].all() and test["onpromotion"].notna().all()
    summary = clean_run.test_summary
    assert summary["rows"] == len(test) and summary["path"].endswith("clean/test.parquet")


def test_without_test_csv_the_run_goes_on_and_says_so(partial_run):
    summary = partial_run.test_summary
    assert summary["rows"] == 0 and summary["path"] is None
    assert not (partial_run.out_dir / "clean" / "test.parquet").exists()


def test_the_report_lists_the_release_verdict_and_the_set_aside_rows(tmp_path):
    written = write_download(tmp_path / "download")
    _train_with_bad_rows(tmp_path / "download")
    test = written["test"]
    test[test["date"] < "2017-08-31"].to_csv(tmp_path / "download" / "test.csv", index=False)
    run_favorita(tmp_path / "download", tmp_path / "out", max_rejected_rows=5)
    html = (tmp_path / "out" / "reports" / "favorita.html").read_text()
    assert "Against the Kaggle release: 6 files match" in html
    assert "test.csv: dates 2017-08-16..2017-08-24, the release covers 2017-08-16..2017-08-31" in html
    assert "malformed rows set aside (rejects.parquet): 2" in html


def test_a_sample_run_as_the_full_release_says_how_to_tell_the_study(tmp_path):
    write_download(tmp_path / "download")
    availability = _stage(tmp_path / "download", tmp_path / "out", StageOptions(expect_release="full"))
    with pytest.raises(FavoritaInputError, match=r"favorita\.expect_release=sample\)$"):
        require_tables(availability, tmp_path / "download")


def test_an_unknown_expect_release_is_a_parameter_error():
    from retailops.errors import InvalidParameterError

    with pytest.raises(InvalidParameterError, match="'full'.*'sample'"):
        StageOptions.from_params({"expect_release": "partial"})


def test_without_a_reject_table_the_first_malformed_row_refuses_the_file_with_its_reason(tmp_path):
    write_download(tmp_path / "download")
    _train_with_bad_rows(tmp_path / "download")
    options = StageOptions.from_params({"expect_release": "sample", "max_rejected_rows": None})
    availability = _by_table(_stage(tmp_path / "download", tmp_path / "out", options))
    assert availability.loc["train", "status"] == "unreadable"
    error = availability.loc["train", "error"]
    # The short line defeats DuckDB's dialect sniffer: its first line says only that; the cause
    # is further down its message, which the error keeps (on one line).
    assert error.startswith("Invalid Input Error: Error when sniffing file") and "\n" not in error
    assert "does not match the number of columns found by the sniffer: 3" in error
    assert pd.isna(availability.loc["train", "rejected_rows"])
