"""dbt's own graph as the orchestrator sees it: one entry per model, read from ``manifest.json``.

The transform pipeline turns each model into a Kedro node and a catalog dataset so that lineage
(raw partitions -> staging -> marts -> reports) is dbt's, never a hand-kept list. The manifest
is produced by ``dbt parse`` (in-process, a few seconds) whenever it is missing or older than
the project's files; the container image prepares it at build time. Reading it imports no dbt,
so registering the pipelines costs no dbt start-up.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from retailops.warehouse.dbt import invoke, project_dir, source_files

log = logging.getLogger(__name__)

# Which ingest dataset lands each dbt source table (the seam between Kedro and dbt).
SOURCE_DATASETS = {
    "products": "raw_dimensions", "stores": "raw_dimensions", "suppliers": "raw_dimensions",
    "sales": "raw_days", "inventory": "raw_days", "shipments": "raw_days",
    "manifests": "raw_days", "defects": "raw_days", "dimension_defects": "raw_dimensions",
    "promotions": "raw_days",
}


@dataclass(frozen=True)
class DbtModel:
    """A model of the dbt project and what it reads."""

    name: str
    layer: str                       # staging | marts (the folder under models/)
    materialized: str
    depends_on_models: tuple[str, ...]
    depends_on_sources: tuple[str, ...]
    description: str

    @property
    def dataset(self) -> str:
        """Its catalog dataset name: the model's own name (``fct_daily_sales``)."""
        return self.name


def _newest_project_file(directory: Path) -> float:
    return max(p.stat().st_mtime for p in source_files(directory))


def manifest_path() -> Path:
    return project_dir() / "target" / "manifest.json"


def ensure_manifest() -> Path:
    """Parse the project when its manifest is missing or stale; return the manifest's path.

    Only this function imports dbt, and only when the manifest is stale: reading the graph is
    plain JSON. The parse runs in its own target folder (``target/lineage``) and its manifest
    is copied into place: its vars are not a run's, and a parse saved where the builds keep
    theirs (``partial_parse.msgpack``) would make the next build parse the whole project."""
    path = manifest_path()
    directory = project_dir()
    if path.is_file() and path.stat().st_mtime >= _newest_project_file(directory):
        return path
    log.info("Parsing the dbt project (manifest missing or older than the models)")
    parsed = directory / "target" / "lineage"
    result = invoke(["parse", "--target-path", str(parsed),
                     "--vars", json.dumps({"lake_root": "/parse-only"})], "duckdb")
    if not result.success or not (parsed / "manifest.json").is_file():
        raise RuntimeError(f"dbt parse failed for {directory}: {result.exception}")
    path.parent.mkdir(parents=True, exist_ok=True)
    staged = path.with_name(f".manifest.{os.getpid()}.json")
    shutil.copyfile(parsed / "manifest.json", staged)
    os.replace(staged, path)  # readers never see half a file
    return path


def dbt_models(manifest_file: Path | None = None) -> list[DbtModel]:
    """Models in dependency order (upstream first)."""
    manifest = json.loads((manifest_file or ensure_manifest()).read_text())
    nodes = {uid: n for uid, n in manifest["nodes"].items() if n["resource_type"] == "model"}
    sources = manifest["sources"]
    models = {}
    for uid, node in nodes.items():
        upstream = node["depends_on"]["nodes"]
        layer = node["fqn"][1] if len(node["fqn"]) > 2 else "marts"
        models[uid] = DbtModel(
            name=node["name"], layer=layer, materialized=node["config"]["materialized"],
            depends_on_models=tuple(nodes[u]["name"] for u in upstream if u in nodes),
            depends_on_sources=tuple(sources[u]["name"] for u in upstream if u in sources),
            description=node.get("description", ""))
    ordered, seen = [], set()

    def visit(uid: str) -> None:
        if uid in seen:
            return
        seen.add(uid)
        for upstream in nodes[uid]["depends_on"]["nodes"]:
            if upstream in nodes:
                visit(upstream)
        ordered.append(models[uid])

    for uid in sorted(nodes):
        visit(uid)
    return ordered
