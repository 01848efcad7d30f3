"""Publish node: decide whether the run may be published; the serving dataset publishes."""

from __future__ import annotations

from typing import Any

from retailops.pipelines.validate.nodes import require_valid_run


def publish_marts(run_report: dict[str, Any], publish_params: dict[str, Any],
                  *marts: Any) -> dict[str, Any]:
    """What to publish to the readers, once the last validation passed.

    Readers only ever see validated marts. In the composed runs a failed validation stops the
    run anyway; the same check here (with the same one-line message, whichever node Kedro runs
    first) guards ``--pipelines publish`` run alone after a failed validation.
    """
    del marts  # lineage: the serving file's views read these marts' curated Parquet
    require_valid_run(run_report)
    request = {"copied_relations": list(publish_params.get("copied_relations") or []),
               "keep_snapshots": int(publish_params.get("keep_snapshots", 2)),
               "curated_tables": list(publish_params.get("curated_tables") or [])}
    # Studies' own marts (the Favorita study), each in a schema of its own, when configured.
    published = {schema: dict(views or {}) for schema, views
                 in (publish_params.get("published_parquet") or {}).items()}
    if published:
        request["published_parquet"] = published
    # Relations served month by month (the defect ledger), when configured.
    monthly = {relation: dict(spec or {}) for relation, spec
               in (publish_params.get("monthly_relations") or {}).items()}
    if monthly:
        request["monthly_relations"] = monthly
    return request
