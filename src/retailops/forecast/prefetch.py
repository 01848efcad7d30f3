"""Import the modules a forecast run predicts with on a thread, while the run reads its history.

A predict-only day spends ~1.5 CPU-s importing LightGBM (which imports scikit-learn and
scipy.stats), lleaves and llvmlite before it can load the stored models. None of that depends on
the history, and the read that comes first waits mostly in DuckDB and numpy, which release the
GIL: on the second core the imports cost the run's wall time nothing. ``Prefetch.wait`` is called
before the models are loaded; a module that failed to import here is simply imported (and fails,
in one line) where it is used.
"""

from __future__ import annotations

import importlib
import logging
import threading
import time
from typing import Any, Iterable, Mapping

log = logging.getLogger(__name__)

# What loading and predicting with each model imports (beyond numpy and pandas).
_MODULES = {
    "lightgbm": ("lightgbm",),                       # unpickling the booster (sklearn, scipy.stats)
    "compiled_trees": ("llvmlite.binding", "lleaves"),  # gbm.use_compiled
    "intervals": ("scipy.stats",),                   # models.count_interval, means above 30
}


def modules_for(params: Mapping[str, Any]) -> list[str]:
    """The modules a forecast run with these parameters imports to load and predict (none with
    ``forecast.prefetch_imports: false``: each is then imported where it is first used)."""
    from retailops.forecast.models import MODEL_NAMES

    if not params.get("prefetch_imports", True):
        return []

    names = params.get("models") or MODEL_NAMES
    if isinstance(names, str):
        names = [n.strip() for n in names.strip("[]").split(",") if n.strip()]
    wanted: list[str] = []
    if "lightgbm" in names:
        wanted += _MODULES["lightgbm"]
        if params.get("compiled_trees", True):
            wanted += _MODULES["compiled_trees"]
    wanted += _MODULES["intervals"]
    return wanted


class Prefetch:
    """A thread importing ``modules`` (in order); ``wait`` joins it. Used as a context manager
    the thread is always joined, so no thread outlives the node (the run may fork later)."""

    def __init__(self, modules: Iterable[str]) -> None:
        self.modules = list(modules)
        self.imported: list[str] = []
        self.failed: dict[str, str] = {}
        self.seconds = 0.0
        self._thread = threading.Thread(target=self._run, name="forecast-prefetch", daemon=True)

    def _run(self) -> None:
        started = time.perf_counter()
        for name in self.modules:
            try:
                importlib.import_module(name)
                self.imported.append(name)
            except Exception as exc:  # imported again where used, which reports it
                self.failed[name] = f"{type(exc).__name__}: {exc}"
        self.seconds = time.perf_counter() - started

    def start(self) -> "Prefetch":
        self._thread.start()
        return self

    def wait(self) -> None:
        if self._thread.is_alive() or self._thread.ident is not None:
            self._thread.join()
        if self.failed:
            log.debug("forecast prefetch: not imported %s", self.failed)

    def __enter__(self) -> "Prefetch":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.wait()
