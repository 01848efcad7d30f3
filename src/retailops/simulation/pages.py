"""Memory advice for the simulation's short-lived arrays.

numpy asks the kernel for transparent huge pages (``madvise(MADV_HUGEPAGE)``) on every array of
4 MB or more. A day's simulation and landing allocate fresh arrays of the day's size and drop
them when the day is landed, so each day faults in new 2 MB pages, each cleared whole by the
kernel, for arrays that live for a fraction of a second. On these machines (virtual machines,
THP ``enabled`` and ``defrag`` both ``madvise``) that costs more system time than the fewer
faults save: ``/proc/vmstat`` shows no compaction or reclaim in either case, ~33 more huge-page
faults a day at scale 16 with the advice, and the system time goes with them.

Measured (docs/scale.md finding 23): the next day of the scale-16 year's lake landed by
``kedro run --pipelines ingest`` on fresh light copies, the advice on and off alternating, 17
rounds in three sets (set medians): system time 0.86, 0.65, 0.80 -> 0.64, 0.47, 0.52 s, user
time unchanged, wall 2.30, 2.23, 2.03 -> 2.23, 2.02, 1.82 s, with 99-110K page faults instead
of 81-92K (small pages: more of them, each cheaper). At scale 1 a day's arrays are below
numpy's 4 MB threshold: the same faults either way.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Iterator


def _advice_setter():
    """numpy's switch for its huge-page advice (``_set_madvise_hugepage``, the runtime form of
    ``NUMPY_MADVISE_HUGEPAGE``; it returns the previous value), or None where absent."""
    try:
        from numpy._core import multiarray
    except ImportError:  # pragma: no cover - numpy < 2
        from numpy.core import multiarray  # type: ignore[no-redef]
    return getattr(multiarray, "_set_madvise_hugepage", None)


@contextmanager
def ordinary_pages() -> Iterator[None]:
    """Within: new numpy arrays get ordinary pages (no huge-page advice); the previous choice
    is restored on the way out. ``NUMPY_MADVISE_HUGEPAGE=1`` in the environment keeps the
    advice on (an operator's explicit choice wins)."""
    setter = _advice_setter()
    if setter is None or os.environ.get("NUMPY_MADVISE_HUGEPAGE") == "1":
        yield
        return
    previous = setter(False)
    try:
        yield
    finally:
        setter(previous)
