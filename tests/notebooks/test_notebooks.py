"""Every analyst notebook runs top to bottom, unchanged, against a freshly built platform.

The notebooks are executed by a real Jupyter kernel (nbclient) with ``<project>/notebooks`` as
working directory, as Jupyter and ``kedro jupyter lab`` run them, in a throwaway project whose
conf is the repository's own with its relative paths (``lake_root: data/lake``; see conftest.py).
``%load_ext kedro.ipython`` finds that project from the folder, and every location must resolve
against the project root: nothing may land in, or be looked for in, ``notebooks/data``.
"""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from tests.conftest import PROJECT_ROOT

NOTEBOOK_DIR = PROJECT_ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
PLOTLY_MIME = "application/vnd.plotly.v1+json"


def _outputs(notebook: nbformat.NotebookNode) -> tuple[str, list[dict]]:
    """All text a reader would see, and every rich (display / result) output."""
    texts, rich = [], []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream":
                texts.append(output["text"])
            elif output.get("output_type") in ("execute_result", "display_data"):
                rich.append(output["data"])
                texts.append(output["data"].get("text/plain", ""))
            elif output.get("output_type") == "error":
                texts.append("\n".join(output.get("traceback", [])))
    return "\n".join(texts), rich


def test_the_analyst_notebooks_are_there():
    assert {p.stem for p in NOTEBOOKS} == {"sales_exploration", "inventory_and_stockouts",
                                          "supplier_performance", "data_quality_walkthrough",
                                          "demand_forecasts"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebooks_are_committed_without_outputs(path: Path):
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert code[0].source.strip() == "%load_ext kedro.ipython"
    assert all(not c.outputs and c.execution_count is None for c in code)


@pytest.fixture(scope="module")
def executed(platform):
    """Runs a notebook once (kernel in ``<project>/notebooks``); later tests reuse its outputs."""
    done: dict[Path, nbformat.NotebookNode] = {}

    def run(path: Path) -> nbformat.NotebookNode:
        if path not in done:
            notebook = nbformat.read(path, as_version=4)
            workdir = platform.project / "notebooks"
            client = NotebookClient(notebook, timeout=300, kernel_name="python3",
                                    resources={"metadata": {"path": str(workdir)}})
            try:
                client.execute()
            except CellExecutionError as error:
                pytest.fail(f"{path.name} failed in a cell: {error.ename}: {error.evalue}\n"
                            f"{_error_outputs(notebook)}", pytrace=False)
            done[path] = notebook
        return done[path]

    return run


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_top_to_bottom_on_the_kedro_catalog(platform, executed, path: Path):
    notebook = executed(path)
    workdir = platform.project / "notebooks"

    text, rich = _outputs(notebook)
    # The marts came through the catalog of the project the notebook sits in, from the files
    # its relative conf names under the PROJECT root: not the repository's data/ folder, and
    # not a data/ folder beside the notebook.
    assert f"path='{platform.project}/data/warehouse/" in text
    assert str(PROJECT_ROOT / "data") not in text
    assert str(workdir / "data") not in text and not (workdir / "data").exists()
    assert "Traceback" not in text
    # Every code cell ran, and the notebook shows charts and tables with rows in them.
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert all(c.execution_count for c in code)
    figures = [json.loads(d[PLOTLY_MIME]) if isinstance(d[PLOTLY_MIME], str) else d[PLOTLY_MIME]
               for d in rich if PLOTLY_MIME in d]
    assert figures, "no plotly figure was displayed"
    for figure in figures:
        assert any(len(_values(trace)) > 0 for trace in figure["data"]), figure["layout"].get(
            "title")
    tables = [d["text/html"] for d in rich if "text/html" in d and "<table" in d["text/html"]]
    assert tables and all("<tbody>" in t and "<tr>" in t.split("<tbody>")[1] for t in tables)


def test_the_data_quality_notebook_reads_the_raw_zone_through_the_catalog(platform, executed):
    """raw_sales is loaded as partitions: the notebook names as many complete partitions as the
    lake has sales manifests, and the last day's line count its manifest records."""
    notebook = executed(NOTEBOOK_DIR / "data_quality_walkthrough.ipynb")
    assert any('catalog.load("raw_sales")' in c.source for c in notebook.cells
               if c.cell_type == "code")
    text, _ = _outputs(notebook)

    manifests = sorted(p.name for p in (platform.lake / "metadata/manifests/sales").iterdir()
                       if (p / "manifest.json").is_file())
    rows = json.loads((platform.lake / "metadata/manifests/sales" / manifests[-1]
                       / "manifest.json").read_text())["rows"]
    assert (f"raw_sales: {len(manifests)} complete partitions, {manifests[0]} .. {manifests[-1]}; "
            f"{manifests[-1]}: {rows:,} sale lines landed") in text


def _error_outputs(notebook: nbformat.NotebookNode) -> str:
    return "\n".join("\n".join(o.get("traceback", []))[-3000:] or o.get("evalue", "")
                     for c in notebook.cells for o in c.get("outputs", [])
                     if o.get("output_type") == "error")


def _values(trace: dict) -> list:
    """A trace's x or y values, whether plain lists or plotly's binary-encoded arrays."""
    for axis in ("x", "y"):
        values = trace.get(axis)
        if isinstance(values, dict) and "bdata" in values:
            return [values["bdata"]] if values["bdata"] else []
        if values is not None:
            return list(values)
    return []


def test_the_forecast_notebook_scores_the_forecasts_it_loaded(platform, executed):
    """The demand_forecasts notebook on four published forecasts (07-03..07-06, tests/notebooks/
    conftest.py): it names them, and scores the 40 cells x 4 one-day-ahead forecasts with the
    share of days inside the 80% interval computed here from the rows written and the sales."""
    import duckdb

    from tests.forecast_fixture import MODELS, forecast_rows

    notebook = executed(NOTEBOOK_DIR / "demand_forecasts.ipynb")
    text, _ = _outputs(notebook)
    assert ("4 forecast date(s), 2024-07-03 .. 2024-07-06; production model(s): lightgbm"
            in text)
    with duckdb.connect(str(platform.project / "data/warehouse/retailops.duckdb"),
                        read_only=True) as con:
        cells = con.execute("select store_id, product_id from marts.fct_daily_sales "
                            "group by 1, 2 order by 1, 2 limit 40").fetchall()
        sold = {(d, s, p): q for d, s, p, q in con.execute(
            "select sale_date, store_id, product_id, quantity from marts.fct_daily_sales")
            .fetchall()}
    from datetime import date, timedelta

    scored = [r for n in range(4)
              for r in forecast_rows(date(2024, 7, 3) + timedelta(days=n), cells, MODELS)
              if r["model"] == "lightgbm"
              and r["target_date"] == date(2024, 7, 3) + timedelta(days=n + 1)]
    inside = sum(r["units_p10"] <= sold.get((r["target_date"], r["store_id"], r["product_id"]), 0)
                 <= r["units_p90"] for r in scored) / len(scored)
    (line,) = [line for line in text.splitlines() if "forecasts scored" in line]
    assert line == (f"{len(scored):,} store x product x day forecasts scored; {inside:.0%} of "
                    "the days fell inside the 80% interval")
