"""The landed CSV is pyarrow's CSV writer's, byte for byte, however ``encode_csv`` makes it
(issue 13: a scale-16 day's sales spent most of the writer's CPU formatting the same few
prices, discounts and quantities on every line). The manifests' sha256 and every lake already
landed depend on these bytes: real simulated days (several at scale 1, with blank discounts
and promotions, and a day at scale 16) and drawn tables (any float, null, zero, whole number,
long fraction, negative, text with quotes) are encoded both ways and compared."""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor
from datetime import date

import pyarrow as pa
import pyarrow.csv as pacsv
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from retailops.lake import landing, partitions
from retailops.lake.partitions import encode_csv
from retailops.simulation import SimulationConfig, build_world, initial_state, run_days


def writers_bytes(table: pa.Table) -> bytes:
    """The reference: pyarrow's CSV writer as the lake always called it."""
    sink = io.BytesIO()
    pacsv.write_csv(table, sink, write_options=pacsv.WriteOptions(include_header=True))
    return sink.getvalue()


@pytest.fixture
def writer_calls(monkeypatch):
    """The column names and rows of each table the writer was given (tells the paths apart;
    the header line is written from the table's first 0 rows)."""
    calls: list[tuple[list[str], int]] = []
    real = partitions._writer_csv

    def spy(table, header):
        calls.append((table.column_names, table.num_rows))
        return real(table, header)

    monkeypatch.setattr(partitions, "_writer_csv", spy)
    return calls


def _days(scale: float, last: date, count: int):
    """The chain's first days through ``last``, the last ``count`` of them."""
    world = build_world(SimulationConfig(scale=scale, seed=7))
    return list(run_days(world, initial_state(world), last))[-count:]


def _assert_same_bytes_as_the_writer(batch, writer_calls) -> None:
    for name, table in [*batch.tables.items(), ("defects", batch.defects)]:
        writer_calls.clear()
        assert encode_csv(table) == writers_bytes(table), f"{batch.day} {name}"
        if name == "sales":
            # The sales took the coded path: the writer wrote the first four columns only.
            firsts = ["sale_id", "sold_at", "store_id", "product_id"]
            assert (firsts, table.num_rows) in writer_calls
            assert (table.column_names, table.num_rows) not in writer_calls


def test_a_week_of_real_days_lands_the_writers_bytes(writer_calls):
    days = _days(1.0, date(2024, 7, 8), 8)
    blanks = sum(d.tables["sales"]["discount_pct"].null_count for d in days)
    discounts = {v for d in days for v in d.tables["sales"]["discount_pct"].to_pylist()}
    assert blanks > 0, "no blank discount (the null-discount defect) in the days compared"
    assert len(discounts - {None, 0.0}) >= 3, "no promotion discounts in the days compared"
    for batch in days:
        _assert_same_bytes_as_the_writer(batch, writer_calls)


@pytest.mark.slow
def test_a_scale16_day_lands_the_writers_bytes(writer_calls):
    (batch,) = _days(16.0, date(2024, 7, 1), 1)
    assert batch.sale_lines > 500_000
    assert batch.tables["sales"]["discount_pct"].null_count > 0
    _assert_same_bytes_as_the_writer(batch, writer_calls)


@pytest.mark.parametrize("rows_per_piece", [97, 1000, 300_000])
def test_a_day_in_pieces_joins_into_the_writers_bytes(rows_per_piece, monkeypatch):
    monkeypatch.setattr(landing, "ROWS_PER_PIECE", rows_per_piece)
    (batch,) = _days(1.0, date(2024, 7, 1), 1)
    for table in batch.tables.values():
        with ThreadPoolExecutor(max_workers=2) as encoders:
            joined = landing._joined(landing._csv_in_pieces(encoders, table))
        assert joined == writers_bytes(table)


# Tables shaped like a day's sales: an id and texts of one width, then columns of few values.
any_float = st.floats(allow_nan=True, allow_infinity=True, allow_subnormal=True)
few_floats = st.lists(st.one_of(st.none(), any_float, st.sampled_from(
    [0.0, -0.0, 10.0, 1e16, 1e-7, 0.1 + 0.2, 1 / 3, -2.5, 123456.789, 5e-324])),
    min_size=1, max_size=12)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_drawn_tables_encode_as_the_writer_does(data):
    pool = data.draw(few_floats, label="pool")
    rows = data.draw(st.integers(1, 300), label="rows")
    picks = data.draw(st.lists(st.integers(0, len(pool) - 1), min_size=rows, max_size=rows))
    ids = data.draw(st.sampled_from([(10**14, 1), (-(10**5), 7), (0, 1), (10**9, 12_345)]))
    small = data.draw(st.lists(st.one_of(st.none(), st.integers(-300, 300)),
                               min_size=rows, max_size=rows))
    width = data.draw(st.integers(0, 4))
    texts = data.draw(st.lists(st.text(alphabet='ab,"\n x', min_size=width, max_size=width),
                               min_size=rows, max_size=rows))
    constant = data.draw(st.sampled_from(["2024-07-25", "", 'a"b', "x,y", "line\nbreak"]))
    table = pa.table({
        "id": pa.array([ids[0] + i * ids[1] for i in range(rows)], pa.int64()),
        "text": pa.array(texts, pa.string()),
        "small": pa.array(small, pa.int32()),
        "price": pa.array([pool[i] for i in picks], pa.float64()),
        "day": pa.array([constant] * rows, pa.string()),
    })
    # Every column set from the end (all coded, none) and a few prefixes.
    for names in (table.column_names, ["id", "text", "price"], ["price"], ["price", "day"],
                  ["small", "price"], ["id", "text"]):
        part = table.select(names)
        assert encode_csv(part) == writers_bytes(part), names
        assert encode_csv(part, header=False) == writers_bytes(part).split(b"\n", 1)[1]


@settings(max_examples=200, deadline=None)
@given(st.lists(any_float, min_size=1, max_size=40), st.sampled_from([pa.float64(), pa.float32()]))
def test_any_float_is_written_with_the_writers_text(values, kind):
    table = pa.table({"price": pa.array(values, pa.float64()).cast(kind, safe=False)})
    assert encode_csv(table) == writers_bytes(table)


def test_texts_with_quotes_or_of_other_widths_go_to_the_writer(writer_calls):
    quoted = pa.table({"id": pa.array(["ab", 'a"', "cd"]), "q": pa.array([1, 2, 1])})
    uneven = pa.table({"id": pa.array(["ab", "a", "cd"]), "q": pa.array([1, 2, 1])})
    for table in (quoted, uneven):
        writer_calls.clear()
        assert encode_csv(table) == writers_bytes(table)
        assert writer_calls[-1] == (["id", "q"], 3)  # the whole table, by the writer


def test_empty_tables_keep_their_header():
    table = pa.table({"a": pa.array([], pa.int64()), "b": pa.array([], pa.float64())})
    assert encode_csv(table) == writers_bytes(table) == b'"a","b"\n'
