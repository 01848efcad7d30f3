"""Landing a day faster must not move a byte (issue 13: the daily run at scale 16 spent 3 s
landing its day). Every file the ingest writes — raw partitions, dimensions, promotion plans,
defect ledgers, ground truth, state checkpoints, manifests (by their sha256) — against digests
frozen from main at 4202a89 (generator 2.0.0), before the sorts of a day's sales, the formatting
of its tables and the second thread that encodes its CSV changed. Two paths: ten days at scale
0.05 (simulated ahead in a child process, a third of them formatted by the caller) and two days
at scale 1 (in place, as a daily run lands its day)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from retailops.lake.storage import Lake
from retailops.simulation import engine, tables
from tests.ingest.helpers import ingest, tree_digest

# sha256 over {path: sha256} of each group of files (manifests by their sha256 field), seed 7.
FROZEN = {
    (0.05, "2024-07-01", "2024-07-10"): {
        "metadata/defects": "0056b76b035919e477b27fb4b6e5251e373a3fe97b585eaf79c543c0e6d0d679",
        "metadata/lake.json": "268a3041f400a2ef04ce67eb613b63908109e8160189055fa8b548f28ea6ca84",
        "metadata/manifests": "e1a2c5235919f10df90e51447b9cfcae8f5f9f860d883af45a130cbffc0fbe18",
        "metadata/state": "1e607eb0d020a8e6b762ba19c2e9cb6f5bb37a5c8a2a0fdd7708325601f5a247",
        "metadata/truth": "54f8a48f07baf204535d168d68e9e96cf688c816a3480a1a10ce85816bc920a1",
        "raw/inventory": "6ee4f4d5f5dcadd18cc1d5eca40106b150195bdece2d90e8c9b928aaf89dd2a4",
        "raw/products": "6729fe416058becdfe17336a084d92b68fef0a97e597e53cdd531bad7ed37a8e",
        "raw/promotions": "fa9952e8ba962484bee218316599589bf5293c70d3628ec938ac2bc4c036b185",
        "raw/sales": "66d5a023ebe60e437693a7d0baf79809149c79caffbc94c0a030c7af1aef17c0",
        "raw/shipments": "4abed8fcad365f9d62d20b808e8c47d49b85934a847f5a4652a378e2945eb59b",
        "raw/stores": "3e49066e20124a773473c373adfc021266ea498c08a3ff299c5c68f078509a76",
        "raw/suppliers": "c80055da17d0f100ef3c55ff847d72ccf6b3392638448dc4056715d6658b6259",
    },
    (1.0, "2024-07-01", "2024-07-02"): {
        "metadata/defects": "3d1c9ef166811eed58ad4417f2b70d026db53feb2f9d210a126afacd92fddee0",
        "metadata/lake.json": "f29f5196ff79b8102502b671cb30521c3c3ea12751d5a9e5117012e3ae6d6d56",
        "metadata/manifests": "a555748085f48e2c233965bdc01a97cc8c0b0d50a26418b03d55a9a33009ce61",
        "metadata/state": "7566bd89864702d8b4ad1294ca9dbe5bee4d1bdd31c717ca653c8a1097e0706d",
        "metadata/truth": "b558f78f23ad3bc2c199e7dd55eee56202aaf089c5f76bfb06be8dc6634865f7",
        "raw/inventory": "309cd3befbc67e1758c52c238c4c0d45ce2640ead6652a2becbb66384c8973ea",
        "raw/products": "e38ab79839c72a5d462d2157b38c768e20745fe4f44ac52143f127c83b5b87c3",
        "raw/promotions": "b15364d723b0f5f4c3865462763fbff776dd86d1d68b5721ccb01d97e40b7db3",
        "raw/sales": "a94680e52df854e13d2f24fda36f63b90e0b973f5bf66065ffe5c2271396fa0d",
        "raw/shipments": "d756922221d4071940fc0b3f8a3fde3d556d5800644ff2eafd5682c4071fab01",
        "raw/stores": "2ce07a0b975d5909025bfe0496817bc934724e0035f9eb26aa5593dc94d3717e",
        "raw/suppliers": "9db30471dc89662d1b3c7629bfdd8a9b6d4caeb5f6c1d021967daee3d8988706",
    },
}


def _group_digests(root: Path) -> dict[str, str]:
    groups: dict[str, dict[str, str]] = {}
    for relative, digest in tree_digest(root).items():
        parts = relative.split("/")
        groups.setdefault("/".join(parts[:2]), {})[relative] = digest
    return {name: hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()
            for name, files in groups.items()}


@pytest.mark.parametrize("key", sorted(FROZEN), ids=lambda k: f"scale{k[0]}-{k[1]}..{k[2]}")
def test_every_landed_file_keeps_its_bytes(tmp_path, key):
    scale, first, last = key
    ingest(Lake(str(tmp_path / "lake")), first, last, scale=scale, seed=7)
    got = _group_digests(tmp_path / "lake")
    assert set(got) == set(FROZEN[key])
    assert {g for g in got if got[g] != FROZEN[key][g]} == set()


def test_the_frozen_digests_tell_another_order_of_sale_lines(tmp_path, monkeypatch):
    # Ties of the same second broken the other way round (a plain unstable sort could do
    # that): the sales partitions change, and the digest says so.
    monkeypatch.setattr(engine, "_time_order",
                        lambda seconds: np.lexsort((-np.arange(seconds.size), seconds)))
    # Two days are simulated in this process (a child process would not see the patch).
    ingest(Lake(str(tmp_path / "lake")), "2024-07-01", "2024-07-02", scale=1.0, seed=7)
    got = _group_digests(tmp_path / "lake")
    frozen = FROZEN[(1.0, "2024-07-01", "2024-07-02")]
    assert got["raw/sales"] != frozen["raw/sales"]
    assert got["raw/inventory"] == frozen["raw/inventory"]


def _lines(rng: np.random.Generator, cells: int, mean: float) -> tuple[np.ndarray, np.ndarray]:
    per_cell = rng.poisson(mean, cells)
    cell = np.repeat(np.arange(cells, dtype=np.int64), per_cell)
    # Few distinct seconds, so many ties within a cell and across cells.
    seconds = rng.integers(8 * 3600, 8 * 3600 + 40, cell.size).astype(np.int32)
    return cell, seconds


@pytest.mark.parametrize("mean", [0.0, 0.3, 4.0])
def test_the_sale_lines_sorts_are_lexsorts_permutations(mean):
    rng = np.random.default_rng(11)
    cell, seconds = _lines(rng, 5_000, mean)
    order = engine._arrival_order(cell, seconds)
    assert np.array_equal(order, np.lexsort((seconds, cell)))
    cell, seconds = cell[order], seconds[order]
    kept = rng.random(cell.size) < 0.9
    cell, seconds = cell[kept], seconds[kept]
    store, product = cell // 50, cell % 50
    assert np.array_equal(engine._time_order(seconds), np.lexsort((product, store, seconds)))


def test_the_time_order_beyond_sixteen_bits_is_still_lexsorts():
    # A span of seconds wider than 16 bits takes the int32 stable sort.
    seconds = np.array([70_000, 0, 70_000, 5, 0], dtype=np.int32)
    assert np.array_equal(engine._time_order(seconds), np.lexsort((seconds,)))


def test_the_clock_lookup_spells_every_second():
    clock = tables._clock_strings().to_pylist()
    assert len(clock) == 86_400
    assert clock == [f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}" for s in range(86_400)]


def test_a_day_encoded_in_small_pieces_keeps_its_bytes(tmp_path, monkeypatch):
    # At these scales a table is one piece; pieces of 97 rows make every table several
    # (and a last piece shorter than the others).
    from retailops.lake import landing

    monkeypatch.setattr(landing, "ROWS_PER_PIECE", 97)
    key = (0.05, "2024-07-01", "2024-07-10")
    ingest(Lake(str(tmp_path / "lake")), key[1], key[2], scale=key[0], seed=7)
    got = _group_digests(tmp_path / "lake")
    assert {g for g in got if got[g] != FROZEN[key][g]} == set()


@pytest.mark.parametrize("rows", [0, 1, 96, 97, 98, 291, 300])
def test_pieces_join_into_the_whole_tables_csv(rows, monkeypatch):
    from concurrent.futures import ThreadPoolExecutor

    import pyarrow as pa

    from retailops.lake import landing
    from retailops.lake.partitions import encode_csv

    monkeypatch.setattr(landing, "ROWS_PER_PIECE", 97)
    table = pa.table({"id": pa.array(range(rows), pa.int64()),
                      "name": pa.array([None if i % 7 == 0 else f'p"{i},x' for i in range(rows)],
                                       pa.string()),
                      "price": pa.array([i / 3 for i in range(rows)], pa.float64())})
    with ThreadPoolExecutor(max_workers=2) as encoders:
        assert b"".join(landing._joined(landing._csv_in_pieces(encoders, table))) == encode_csv(table)


@pytest.mark.parametrize("value,n", [("2025-08-10", 0), ("2025-08-10", 1), ("2025-08-10", 812_345),
                                     ("", 3), ("é-ü", 7)])
def test_a_constant_text_column_is_the_repeated_string(value, n):
    """The day's date on each line, laid out as the array's buffers: the same array as
    pyarrow's own repeat (so the same CSV bytes)."""
    import pyarrow as pa

    from retailops.simulation.tables import _constant_text

    made = _constant_text(value, n)
    made.validate(full=True)
    assert made.equals(pa.repeat(pa.scalar(value, pa.string()), n))


@pytest.mark.parametrize("n", [0, 1, 5, 300_001])
def test_looked_up_text_writes_the_taken_text(n):
    """A fact table's ids as a dictionary array (``_looked_up``): the same values as the strings
    ``pc.take`` builds, and the same CSV bytes, quoting included (a value with a quote and a
    comma, an empty one, one never used)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from retailops.lake.partitions import encode_csv
    from retailops.simulation.tables import _looked_up

    values = pa.array(["ST001", 'P"7,x', "", "é-ü", "unused"], pa.string())
    indices = np.random.default_rng(n).integers(0, 4, size=n).astype(np.int32)
    looked_up = _looked_up(values, indices)
    looked_up.validate(full=True)
    taken = pc.take(values, pa.array(indices))
    assert looked_up.cast(pa.string()).equals(taken)
    assert (encode_csv(pa.table({"id": looked_up, "n": pa.array(range(n))}))
            == encode_csv(pa.table({"id": taken, "n": pa.array(range(n))})))
