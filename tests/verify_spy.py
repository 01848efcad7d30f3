"""A spy on ``verify_lake``'s hashing, for the tests of its two workers
(tests/transform/test_verify_parallel.py, tests/ingest/test_verify_across_tables.py)."""

from __future__ import annotations

import threading
import time
from datetime import date
from typing import Any, Callable

from retailops.lake import partitions


def spy_on_hashing(monkeypatch: Any, key: Callable[[str, date], Any]
                   ) -> tuple[list[Any], set[str]]:
    """Record each partition verification hashes (``key(table, day)``) and the threads that
    hashed them; each check is held 50 ms, long enough for the second worker to take the next
    partition. Returns the (growing) list and set."""
    seen: list[Any] = []
    threads: set[str] = set()
    real = partitions._check_bytes

    def check_bytes(lake, table, day, manifest, columns):
        threads.add(threading.current_thread().name)
        seen.append(key(table, day))
        time.sleep(0.05)
        return real(lake, table, day, manifest, columns)

    monkeypatch.setattr(partitions, "_check_bytes", check_bytes)
    return seen, threads
