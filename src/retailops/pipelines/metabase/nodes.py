"""Metabase nodes: thin wiring of ``retailops.dashboards.metabase`` to the run's parameters."""

from __future__ import annotations

import logging
from typing import Any

from retailops.dashboards.metabase import (
    MetabaseClient,
    load_connection,
    load_spec,
    provision,
)

log = logging.getLogger(__name__)


def provision_metabase(client: MetabaseClient, spec: dict[str, Any],
                       params: dict[str, Any]) -> list[str]:
    """Bring Metabase in line with the dashboard spec (``params['dry_run']``: plan only).

    Returns the plan lines, which are also logged, so a dry run shows what would change.
    """
    dashboard_spec = load_spec(spec)
    connection = load_connection(params.get("connections") or {}, str(params.get("connection")))
    report = provision(client, dashboard_spec, connection,
                       dry_run=_flag(params.get("dry_run")),
                       sync_wait_seconds=float(params.get("sync_wait_seconds", 120)))
    for line in report.lines():
        log.info("%s", line)
    return report.lines()


def _flag(value: Any) -> bool:
    # --params metabase.dry_run=true arrives as a string or a bool depending on the spelling.
    return str(value).strip().lower() in {"1", "true", "yes", "on"}
