"""Every analyst notebook runs top to bottom, unchanged, against a freshly built platform.

The notebooks are executed by a real Jupyter kernel (nbclient) from ``<project>/notebooks`` of
the session's throwaway project (tests/platform_fixture.py), so ``%load_ext kedro.ipython``
finds that project and its conf exactly as it finds the repository's in normal use.
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


def test_the_four_analyst_notebooks_are_there():
    assert {p.stem for p in NOTEBOOKS} == {"sales_exploration", "inventory_and_stockouts",
                                          "supplier_performance", "data_quality_walkthrough"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebooks_are_committed_without_outputs(path: Path):
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert code[0].source.strip() == "%load_ext kedro.ipython"
    assert all(not c.outputs and c.execution_count is None for c in code)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_top_to_bottom_on_the_kedro_catalog(platform, path: Path):
    notebook = nbformat.read(path, as_version=4)
    workdir = platform.project / "notebooks"
    workdir.mkdir(exist_ok=True)
    client = NotebookClient(notebook, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(workdir)}})
    try:
        client.execute()
    except CellExecutionError as error:
        pytest.fail(f"{path.name} failed in a cell: {error.ename}: {error.evalue}\n"
                    f"{_error_outputs(notebook)}", pytrace=False)

    text, rich = _outputs(notebook)
    # The marts came through the catalog of the project the notebook sits in: the session's
    # warehouse, not the repository's data/ folder.
    assert f"path='{platform.warehouse}'" in text
    assert str(PROJECT_ROOT / "data") not in text
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
