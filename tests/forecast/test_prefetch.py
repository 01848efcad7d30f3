"""The forecast stage imports LightGBM, lleaves and scipy.stats on a thread while it reads the
history (``forecast.prefetch``): the stage's own modules do not import them (else there would be
nothing to overlap), the thread imports what the configured models need and is joined before
the node goes on, and a module that cannot be imported is noted, not raised."""

from __future__ import annotations

import subprocess
import sys
import threading

from retailops.forecast.prefetch import Prefetch, modules_for

HEAVY = ("scipy.stats", "lightgbm", "sklearn", "lleaves", "llvmlite")


def test_the_stage_modules_leave_the_heavy_imports_to_the_thread():
    code = ("import sys\n"
            "import retailops.pipelines.forecast.nodes, retailops.forecast.run, "
            "retailops.forecast.models, retailops.forecast.levels, retailops.forecast.data, "
            "retailops.forecast.censoring, retailops.forecast.prefetch\n"
            f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"


def test_modules_follow_the_configured_models():
    everything = modules_for({})
    assert everything[0] == "lightgbm"
    assert {"lightgbm", "lleaves", "llvmlite.binding", "scipy.stats"} <= set(everything)
    assert "lleaves" not in modules_for({"compiled_trees": False})
    assert modules_for({"models": ["seasonal_naive", "intermittent"]}) == ["scipy.stats"]
    assert modules_for({"models": "[seasonal_naive, lightgbm]"})[0] == "lightgbm"
    assert modules_for({"prefetch_imports": False}) == []


def test_the_thread_imports_and_is_joined():
    before = threading.active_count()
    with Prefetch(["json", "retailops_no_such_module", "csv"]) as prefetch:
        pass
    assert threading.active_count() == before
    assert prefetch.imported == ["json", "csv"]
    assert list(prefetch.failed) == ["retailops_no_such_module"]
    assert "ModuleNotFoundError" in prefetch.failed["retailops_no_such_module"]


def test_an_exception_in_the_block_still_joins_the_thread():
    before = threading.active_count()
    try:
        with Prefetch(["json"]):
            raise RuntimeError("the read failed")
    except RuntimeError:
        pass
    assert threading.active_count() == before
