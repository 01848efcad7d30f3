"""Plan and apply: bring a Metabase instance in line with the dashboard spec, by name.

One walk serves both modes. Each object (database connection, collection, card, dashboard) is
looked up by name, its wanted state is built from the spec, compared with what Metabase returns
and, unless this is a dry run, created or updated. A dry run therefore prints exactly the
changes a real run would make, and a second real run finds nothing to change.

Dashboards follow today's API: created empty with ``POST /api/dashboard``, then filled by one
``PUT /api/dashboard/:id`` carrying the filters and the whole ``dashcards`` array (new cards
with negative ids, existing ones keep theirs, omitted ones are deleted by Metabase), and every
filter mapping names its ``card_id``.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from retailops.dashboards.metabase.client import MetabaseClient
from retailops.dashboards.metabase.errors import MetabaseError
from retailops.dashboards.metabase.spec import (
    MARTS_TOKEN,
    Collection,
    Dashboard,
    DashboardSpec,
    DatabaseConnection,
    Question,
)

# Metabase never returns secrets it stores; it answers with this placeholder instead.
REDACTED = "**MetabasePass**"
_TAG_NAMESPACE = uuid.UUID("6f1c9a52-4c1e-4e59-9d8e-2f1b7c3a0d11")


@dataclass(frozen=True)
class Change:
    """One object of the plan and what happens to it."""

    action: str  # "create", "update" or "unchanged"
    kind: str  # "database", "collection", "card", "dashboard"
    name: str
    fields: tuple[str, ...] = ()

    def line(self) -> str:
        """The plan line a person reads: ``+ card 'Daily revenue'``."""
        mark = {"create": "+", "update": "~", "unchanged": "="}[self.action]
        changed = f" ({', '.join(self.fields)})" if self.fields else ""
        return f"{mark} {self.action} {self.kind} {self.name!r}{changed}"


@dataclass
class ProvisioningReport:
    """What a run found and did; ``writes`` are the requests that changed Metabase."""

    url: str
    dry_run: bool
    changes: list[Change] = field(default_factory=list)
    writes: list[str] = field(default_factory=list)

    @property
    def pending(self) -> list[Change]:
        """The changes that are not ``unchanged``."""
        return [c for c in self.changes if c.action != "unchanged"]

    def lines(self) -> list[str]:
        """The plan, one line per object, then a summary line."""
        counts = {a: sum(c.action == a for c in self.changes) for a in ("create", "update", "unchanged")}
        verb = "would" if self.dry_run else "did"
        summary = (f"Metabase at {self.url}: {verb} create {counts['create']}, update "
                   f"{counts['update']}, leave {counts['unchanged']} unchanged; "
                   f"{len(self.writes)} write request(s)" + (" (dry run)" if self.dry_run else ""))
        return [c.line() for c in self.changes] + [summary]


def _items(payload: Any) -> list[dict[str, Any]]:
    """List endpoints answer a bare list in old versions and ``{"data": [...]}`` in new ones."""
    if isinstance(payload, dict):
        payload = payload.get("data", [])
    return list(payload or [])


def _differences(wanted: Mapping[str, Any], current: Mapping[str, Any]) -> tuple[str, ...]:
    """Keys of ``wanted`` whose value differs from ``current`` (None and absent are equal)."""
    return tuple(k for k, v in wanted.items() if _canonical(v) != _canonical(current.get(k)))


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _field_id(dimension: Any) -> Any:
    """The field id of a template tag's ``dimension`` in MBQL 4 (``["field", 12, null]``)
    or MBQL 5 (``["field", {...}, 12]``) form."""
    if isinstance(dimension, list) and dimension and dimension[0] == "field":
        return next((x for x in dimension[1:] if isinstance(x, (int, str)) and x is not None), None)
    return None


class _Provisioning:
    """One run against one instance; holds the ids resolved so far."""

    def __init__(self, client: MetabaseClient, dry_run: bool,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.client = client
        self.dry_run = dry_run
        self.report = ProvisioningReport(client.url, dry_run)
        self.sleep = sleep

    def record(self, action: str, kind: str, name: str, fields: tuple[str, ...] = ()) -> None:
        self.report.changes.append(Change(action, kind, name, fields))

    # --- database connection -------------------------------------------------------------
    def database(self, connection: DatabaseConnection) -> int | None:
        """The id of the connection called ``connection.name``, created or updated if managed."""
        found = [d for d in _items(self.client.get("/api/database", "listing databases"))
                 if d.get("name") == connection.name]
        if len(found) > 1:
            raise MetabaseError(f"Metabase at {self.client.url} has {len(found)} databases named "
                                f"{connection.name!r}; rename all but one")
        if not connection.manage:
            if not found:
                raise MetabaseError(
                    f"unknown database {connection.name!r} in Metabase at {self.client.url}: add "
                    "the connection in Admin > Databases, or set manage: true in "
                    "metabase.connections")
            self.record("unchanged", "database", connection.name)
            return int(found[0]["id"])
        wanted = {"name": connection.name, "engine": connection.engine,
                  "details": dict(connection.details)}
        what = f"database connection {connection.name!r} (engine {connection.engine})"
        if not found:
            self.record("create", "database", connection.name)
            if self.dry_run:
                return None
            created = self.client.post("/api/database", {**wanted, "is_full_sync": True,
                                                         "is_on_demand": False}, what)
            database_id = int(created["id"])
            # Creating a connection starts a sync in Metabase; ask once more so it is not
            # waiting on a schedule, then wait for the marts' fields (see field_ids).
            self.client.post(f"/api/database/{database_id}/sync_schema", {}, f"syncing {what}")
            return database_id
        current = self.client.get(f"/api/database/{found[0]['id']}", f"reading {what}")
        current_details = current.get("details") or {}
        changed = tuple(["engine"] if current.get("engine") != connection.engine else [])
        # A secret comes back redacted, so only the settings Metabase shows can be compared.
        if any(current_details.get(k) not in (v, REDACTED) for k, v in connection.details.items()):
            changed += ("details",)
        self.record("update" if changed else "unchanged", "database", connection.name, changed)
        if changed and not self.dry_run:
            self.client.put(f"/api/database/{current['id']}", wanted, what)
        return int(current["id"])

    def field_ids(self, database_id: int | None, connection: DatabaseConnection,
                  fields: set[str], wait_seconds: float) -> dict[str, int | None]:
        """Metabase's id of each ``table.column`` in the marts schema.

        Field filters point at fields by id, and fields exist only once Metabase has synced the
        schema; a new connection is polled until they appear or ``wait_seconds`` pass.
        """
        if database_id is None:  # dry run of a connection that does not exist yet
            return {f: None for f in fields}
        deadline = time.monotonic() + wait_seconds
        while True:
            metadata = self.client.get(f"/api/database/{database_id}/metadata",
                                       f"reading the fields of {connection.name!r}")
            known = {f"{t.get('name')}.{c.get('name')}": int(c["id"])
                     for t in metadata.get("tables", [])
                     if (t.get("schema") or "") == connection.marts_schema
                     for c in t.get("fields", [])}
            missing = sorted(fields - set(known))
            if not missing:
                return {f: known[f] for f in fields}
            if self.dry_run or time.monotonic() >= deadline:
                raise MetabaseError(
                    f"Metabase database {connection.name!r} (id {database_id}) at "
                    f"{self.client.url} has no field {connection.marts_schema}.{missing[0]}"
                    f"{f' (and {len(missing) - 1} more)' if len(missing) > 1 else ''}: are the "
                    "marts built and the schema synced? (Admin > Databases > Sync)")
            self.sleep(2.0)

    # --- collection ----------------------------------------------------------------------
    def collection(self, collection: Collection) -> int | None:
        """The id of the top-level collection called ``collection.name``."""
        found = [c for c in _items(self.client.get("/api/collection", "listing collections"))
                 if c.get("name") == collection.name and not c.get("archived")
                 and c.get("personal_owner_id") is None and c.get("location", "/") == "/"
                 and isinstance(c.get("id"), int)]
        what = f"collection {collection.name!r}"
        wanted = {"name": collection.name, "description": collection.description}
        if not found:
            self.record("create", "collection", collection.name)
            if self.dry_run:
                return None
            return int(self.client.post("/api/collection", {**wanted, "parent_id": None}, what)["id"])
        changed = _differences(wanted, found[0])
        self.record("update" if changed else "unchanged", "collection", collection.name, changed)
        if changed and not self.dry_run:
            self.client.put(f"/api/collection/{found[0]['id']}", wanted, what)
        return int(found[0]["id"])

    def collection_items(self, collection_id: int | None) -> dict[tuple[str, str], int]:
        """``(model, name) -> id`` of the cards and dashboards in the collection."""
        if collection_id is None:
            return {}
        items = _items(self.client.get(f"/api/collection/{collection_id}/items",
                                       "listing the collection",
                                       params={"models": ["card", "dashboard"]}))
        by_name: dict[tuple[str, str], int] = {}
        for item in items:
            key = (str(item.get("model")), str(item.get("name")))
            if key in by_name:
                raise MetabaseError(f"the collection holds two {key[0]}s named {key[1]!r}; "
                                    "archive one so provisioning knows which to update")
            by_name[key] = int(item["id"])
        return by_name

    # --- cards ---------------------------------------------------------------------------
    def card(self, question: Question, database_id: int | None, collection_id: int | None,
             connection: DatabaseConnection, fields: Mapping[str, int | None],
             existing: Mapping[tuple[str, str], int]) -> int | None:
        """Create or update the card of ``question``; its id."""
        wanted = card_payload(question, database_id, collection_id, connection, fields)
        what = f"card {question.name!r}"
        card_id = existing.get(("card", question.name))
        if card_id is None:
            self.record("create", "card", question.name)
            if self.dry_run:
                return None
            return int(self.client.post("/api/card", wanted, what)["id"])
        current = self.client.get(f"/api/card/{card_id}", f"reading {what}",
                                  params={"legacy-mbql": "true"})
        current = {**current, "dataset_query": _native_query(current.get("dataset_query") or {})}
        changed = _differences({**wanted, "dataset_query": _native_query(wanted["dataset_query"])},
                               current)
        self.record("update" if changed else "unchanged", "card", question.name, changed)
        if changed and not self.dry_run:
            self.client.put(f"/api/card/{card_id}", wanted, what)
        return card_id

    # --- dashboards ----------------------------------------------------------------------
    def dashboard(self, dashboard: Dashboard, spec: DashboardSpec, collection_id: int | None,
                  card_ids: Mapping[str, int | None],
                  existing: Mapping[tuple[str, str], int]) -> None:
        """Create the dashboard if missing, then fill or correct it with one PUT."""
        what = f"dashboard {dashboard.name!r}"
        dashboard_id = existing.get(("dashboard", dashboard.name))
        current: dict[str, Any] = {"dashcards": []}
        if dashboard_id is None:
            self.record("create", "dashboard", dashboard.name)
            if self.dry_run:
                return
            dashboard_id = int(self.client.post(
                "/api/dashboard", {"name": dashboard.name, "description": dashboard.description,
                                   "collection_id": collection_id}, what)["id"])
            created = True
        else:
            current = self.client.get(f"/api/dashboard/{dashboard_id}", f"reading {what}")
            created = False
        wanted = dashboard_payload(dashboard, spec, collection_id, card_ids,
                                   current.get("dashcards") or [])
        changed = _differences(_comparable_dashboard(wanted), _comparable_dashboard(current))
        if not created:
            self.record("update" if changed else "unchanged", "dashboard", dashboard.name, changed)
        if (created or changed) and not self.dry_run:
            self.client.put(f"/api/dashboard/{dashboard_id}", wanted, what)


def _tag_id(question: Question, name: str) -> str:
    # Stable ids: the same spec always produces the same card, so re-runs compare equal.
    return str(uuid.uuid5(_TAG_NAMESPACE, f"{question.key}/{name}"))


def card_payload(question: Question, database_id: int | None, collection_id: int | None,
                 connection: DatabaseConnection, fields: Mapping[str, int | None]) -> dict[str, Any]:
    """The ``POST /api/card`` body of a native question (required: name, dataset_query,
    display, visualization_settings)."""
    tags: dict[str, Any] = {}
    for f in question.filters:
        tag: dict[str, Any] = {"id": _tag_id(question, f.name), "name": f.name,
                               "display-name": f.display_name, "type": f.tag_type}
        if f.field:
            tag["dimension"] = ["field", fields.get(f.field), None]
            tag["widget-type"] = f.widget
        tags[f.name] = tag
    return {
        "name": question.name,
        "description": question.description,
        "display": question.display,
        "visualization_settings": dict(question.visualization_settings),
        "collection_id": collection_id,
        "type": "question",
        "dataset_query": {
            "type": "native",
            "database": database_id,
            "native": {"query": question.sql.replace(MARTS_TOKEN, connection.marts_schema).strip(),
                       "template-tags": tags},
        },
    }


def _native_query(dataset_query: Mapping[str, Any]) -> dict[str, Any]:
    """Database, SQL and tags of a native query, in MBQL 4 or MBQL 5 (``stages``) form, with only
    the tag keys RetailOps sets, so Metabase's added defaults never look like a change."""
    if "stages" in dataset_query:
        stage = (dataset_query.get("stages") or [{}])[0]
        sql, tags = stage.get("native"), stage.get("template-tags") or {}
    else:
        native = dataset_query.get("native") or {}
        sql, tags = native.get("query"), native.get("template-tags") or {}
    keys = ("id", "name", "display-name", "type", "widget-type")
    return {"database": dataset_query.get("database"), "query": sql,
            "tags": {name: {**{k: t.get(k) for k in keys}, "field": _field_id(t.get("dimension"))}
                     for name, t in tags.items()}}


def dashboard_payload(dashboard: Dashboard, spec: DashboardSpec, collection_id: int | None,
                      card_ids: Mapping[str, int | None],
                      current_dashcards: list[Mapping[str, Any]]) -> dict[str, Any]:
    """The one ``PUT /api/dashboard/:id`` body: filters and the whole ``dashcards`` array.

    A placed card keeps the id of an existing dashcard showing the same card (so Metabase
    updates rather than re-creates it); the others get negative ids, which Metabase creates.
    """
    parameters = [{"id": f.slug, "name": f.name, "slug": f.slug, "type": f.type,
                   **({"sectionId": f.section_id} if f.section_id else {})}
                  for f in dashboard.filters]
    reusable: dict[Any, list[int]] = {}
    for dc in sorted(current_dashcards, key=lambda d: int(d.get("id", 0))):
        reusable.setdefault(dc.get("card_id"), []).append(int(dc["id"]))
    dashcards = []
    for i, placed in enumerate(dashboard.cards, start=1):
        question = spec.questions[placed.question]
        card_id = card_ids.get(placed.question)
        ids = reusable.get(card_id) or []
        mappings = [{"parameter_id": f.slug, "card_id": card_id,
                     "target": [tag.target_kind, ["template-tag", tag.name]]}
                    for f in dashboard.filters if (tag := question.filter(f.slug))]
        dashcards.append({"id": ids.pop(0) if ids else -i, "card_id": card_id,
                          "row": placed.row, "col": placed.col,
                          "size_x": placed.size_x, "size_y": placed.size_y,
                          "parameter_mappings": mappings,
                          "visualization_settings": dict(placed.visualization_settings),
                          "series": []})
    return {"name": dashboard.name, "description": dashboard.description,
            "collection_id": collection_id, "parameters": parameters, "dashcards": dashcards}


def _comparable_dashboard(payload: Mapping[str, Any]) -> dict[str, Any]:
    """A dashboard (wanted or as Metabase returns it) reduced to what the spec controls."""
    param_keys = ("id", "name", "slug", "type", "sectionId")
    cards = sorted(
        ({"card_id": d.get("card_id"), "row": d.get("row"), "col": d.get("col"),
          "size_x": d.get("size_x"), "size_y": d.get("size_y"),
          "visualization_settings": d.get("visualization_settings") or {},
          "parameter_mappings": sorted(
              ({"parameter_id": m.get("parameter_id"), "card_id": m.get("card_id"),
                "target": m.get("target")} for m in d.get("parameter_mappings") or []),
              key=_canonical)}
         for d in payload.get("dashcards") or []), key=_canonical)
    return {"name": payload.get("name"), "description": payload.get("description"),
            "collection_id": payload.get("collection_id"),
            "parameters": [{k: p.get(k) for k in param_keys if p.get(k) is not None}
                           for p in payload.get("parameters") or []],
            "dashcards": cards}


def provision(client: MetabaseClient, spec: DashboardSpec, connection: DatabaseConnection, *,
              dry_run: bool, sync_wait_seconds: float = 120.0,
              sleep: Callable[[float], None] = time.sleep) -> ProvisioningReport:
    """Make Metabase match ``spec`` (or, with ``dry_run``, only say what that would change)."""
    run = _Provisioning(client, dry_run, sleep)
    database_id = run.database(connection)
    wanted_fields = {f.field for q in spec.questions.values() for f in q.filters if f.field}
    fields = run.field_ids(database_id, connection, wanted_fields, sync_wait_seconds)
    collection_id = run.collection(spec.collection)
    existing = run.collection_items(collection_id)
    card_ids = {key: run.card(q, database_id, collection_id, connection, fields, existing)
                for key, q in spec.questions.items()}
    for dashboard in spec.dashboards:
        run.dashboard(dashboard, spec, collection_id, card_ids, existing)
    run.report.writes = list(client.writes)
    return run.report
