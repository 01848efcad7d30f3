"""``Lake.digest``: the sha256 and the first line of a stored object, read in pieces into one
reused buffer (verification hashes a scale-16 day's ~89 MB sales file without holding it).
The expected values come from hashlib over the whole bytes, written by the test itself."""

from __future__ import annotations

import hashlib

import pytest

from retailops.lake import storage
from retailops.lake.storage import Lake

CASES = {
    "header and rows": b"sale_id,sold_at\n1,2024-07-01T00:00:01\n2,2024-07-01T00:00:02\n",
    "empty": b"",
    "no newline": b"a,b,c",
    "only a newline": b"\n",
    "first line across pieces": b"x" * 25 + b"\n" + b"y" * 40 + b"\n",
}


@pytest.fixture()
def small_pieces(monkeypatch):
    """Pieces of 7 bytes, so a file spans many and its first line crosses their ends."""
    monkeypatch.setattr(storage, "DIGEST_CHUNK", 7)


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("pieces", ["default", "small"])
def test_digest_is_the_whole_files_sha256_and_first_line(tmp_path, monkeypatch, name, pieces):
    if pieces == "small":
        monkeypatch.setattr(storage, "DIGEST_CHUNK", 7)
    data = CASES[name]
    lake = Lake(str(tmp_path))
    lake.write_bytes("raw/t/dt=2024-07-01/t.csv", data)
    digest, first_line = lake.digest("raw/t/dt=2024-07-01/t.csv")
    assert digest == hashlib.sha256(data).hexdigest()
    assert first_line == data.split(b"\n", 1)[0]


def test_a_first_line_without_end_is_kept_up_to_the_limit(tmp_path, small_pieces, monkeypatch):
    monkeypatch.setattr(storage, "FIRST_LINE_LIMIT", 20)
    data = b"z" * 100
    lake = Lake(str(tmp_path))
    lake.write_bytes("f.csv", data)
    digest, first_line = lake.digest("f.csv")
    assert digest == hashlib.sha256(data).hexdigest() and first_line == b"z" * 20


def test_a_missing_file_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        Lake(str(tmp_path)).digest("raw/t/dt=2024-07-01/t.csv")


def test_on_s3_over_http_the_same(aws_env, small_pieces):
    import boto3

    boto3.client("s3").create_bucket(Bucket="retailops-digest")
    lake = Lake("s3://retailops-digest")
    for name, data in CASES.items():
        key = f"raw/{len(data)}/t.csv"
        lake.write_bytes(key, data)
        assert lake.digest(key) == (hashlib.sha256(data).hexdigest(),
                                    data.split(b"\n", 1)[0]), name
    with pytest.raises(FileNotFoundError):
        lake.digest("raw/none/t.csv")
