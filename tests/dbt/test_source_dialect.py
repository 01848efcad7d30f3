"""The raw fact sources on DuckDB read the lake's CSV dialect as stated, and binding a read of
one day opens no other day's file (models/staging/_sources.yml: `auto_detect=false` with the
dialect written out, instead of sniffing the glob's first file on every bind)."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pytest
import yaml

from retailops.warehouse.dbt_project import DBT_PROJECT_DIR

SOURCES = DBT_PROJECT_DIR / "models" / "staging" / "_sources.yml"
FACT_SOURCES = ("sales", "inventory", "shipments", "promotions", "defects")
LAKE_ROOT = "{{ var('lake_root').rstrip('/') }}"
SNIFFED = "files_to_sniff=1"

# A day's file written the way the lake writes CSV (RFC 4180), with what a dialect decides:
# a comma and doubled quotes inside quotes, an empty field, spaces kept inside a value.
TRICKY_VALUES = ['7', '"ST,1"', '"say ""hi"""', '', '"  3 "']
EXPECTED_VALUES = ('7', 'ST,1', 'say "hi"', None, '  3 ')
# The oldest partition: bytes no CSV dialect fits (an unterminated quote, then binary).
NOT_CSV = b'"sale_id","sold_at"\n"1,"bad\n\x00\xff;;"\n'


def fact_reads() -> dict[str, str]:
    """Each fact source's DuckDB read (meta.external_location), with the lake root left in."""
    tables = {table["name"]: table for source in yaml.safe_load(SOURCES.read_text())["sources"]
              for table in source["tables"]}
    return {name: tables[name]["config"]["meta"]["external_location"] for name in FACT_SOURCES}


def columns_of(read: str) -> list[str]:
    return re.findall(r"'([a-z_]+)': 'VARCHAR'", read)


def glob_of(read: str) -> str:
    return re.search(r"read_csv\('([^']+)'", read).group(1)


def land_two_days(read: str, lake: Path) -> None:
    """The oldest day's file is not CSV; the next day's holds one row of TRICKY_VALUES (the
    other columns plain, `dt` the partition's day when the file has one)."""
    names = columns_of(read)
    row = [TRICKY_VALUES[i] if i < len(TRICKY_VALUES) else "x" for i in range(len(names))]
    if "dt" in names:
        row[names.index("dt")] = '"2024-07-02"'
    for day, body in (("2024-07-01", NOT_CSV),
                      ("2024-07-02", (",".join(f'"{n}"' for n in names) + "\n"
                                      + ",".join(row) + "\n").encode())):
        path = Path(glob_of(read.replace(LAKE_ROOT, str(lake))).replace("dt=*", f"dt={day}"))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)


def read_day(read: str, lake: Path) -> list[tuple]:
    sql = read.replace(LAKE_ROOT, str(lake))
    if sql.lstrip().startswith("read_csv"):
        sql = f"select * from {sql}"
    else:  # a subquery over the read (the defects source)
        sql = f"select * from {sql} as source"
    names = columns_of(read)
    picked = ", ".join(names[:len(TRICKY_VALUES)])
    with duckdb.connect() as connection:
        return connection.execute(f"select {picked} from ({sql}) where dt = '2024-07-02'").fetchall()


@pytest.mark.parametrize("name", FACT_SOURCES)
def test_a_day_reads_as_written_without_opening_other_days(tmp_path: Path, name: str) -> None:
    read = fact_reads()[name]
    assert "auto_detect=false" in read and SNIFFED not in read
    land_two_days(read, tmp_path)
    names = columns_of(read)
    expected = list(EXPECTED_VALUES[:len(names)])
    if "dt" in names[:len(TRICKY_VALUES)]:
        expected[names.index("dt")] = "2024-07-02"
    assert read_day(read, tmp_path) == [tuple(expected)]


@pytest.mark.parametrize("name", FACT_SOURCES)
def test_the_sniffing_read_opened_the_oldest_day(tmp_path: Path, name: str) -> None:
    """What the stated dialect replaced: the same read with DuckDB sniffing fails on the
    oldest day's file, though the query reads another day."""
    read = fact_reads()[name]
    sniffing = re.sub(r"auto_detect=false, delim=',', quote='\"', escape='\"'", SNIFFED, read)
    assert sniffing != read
    land_two_days(read, tmp_path)
    with pytest.raises(duckdb.InvalidInputException, match="sniffing file .*dt=2024-07-01"):
        read_day(sniffing, tmp_path)
