"""An in-process stand-in for Metabase's REST API, served over real HTTP on 127.0.0.1.

It keeps databases, collections, cards and dashboards in memory and validates requests the way
Metabase's API schemas do (docs/api.json in the metabase repository): required fields, known
ids, parameter types, the 24-column grid, dashcard ids, and parameter mappings that name a card
on the dashboard and a parameter of the dashboard. It is deliberately *stricter* in one place:
a mapping without ``card_id`` is rejected here, where Metabase would silently ignore it.
``POST /api/dashboard/:id/cards`` is gone, as in Metabase today: 404.

Every request is recorded in ``requests``; ``writes`` are those that change state.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

ENGINES = {"athena", "postgres", "duckdb", "h2", "mysql", "redshift", "bigquery-cloud-sdk"}
PARAMETER_TYPES = {
    "number", "text", "date", "date/single", "id", "category", "date/range", "date/month-year",
    "date/quarter-year", "date/relative", "date/all-options", "temporal-unit", "number/=",
    "number/!=", "number/between", "number/>=", "number/<=", "string/=", "string/!=",
    "string/contains", "string/does-not-contain", "string/starts-with", "string/ends-with",
    "boolean/=", "location/city", "location/state", "location/zip_code", "location/country"}
# Which template-tag widget types a dashboard parameter type may drive (Metabase's allowed-for),
# written out independently of the provisioning code so a mistake there is caught here.
DRIVES = {
    "date/all-options": {"date/all-options"},
    "date/range": {"date/range", "date/all-options"},
    "date/single": {"date", "date/single", "date/all-options", "id", "category"},
    "string/=": {"string/=", "text", "id", "category"},
    "text": {"text", "string/=", "id", "category"},
    "category": {"category", "number", "text", "date", "boolean"},
    "number/=": {"number/=", "number", "id", "category"},
}
WRITE_METHODS = {"POST", "PUT", "DELETE"}
# The marts as a synced Metabase database shows them (table -> columns).
MART_TABLES = {
    "dim_date": ["date_day", "year", "month", "day_of_week"],
    "dim_products": ["product_id", "product_name", "category", "subcategory", "brand", "unit_cost",
                     "list_price", "supplier_id", "supplier_name", "supplier_country",
                     "supplier_lead_time_days", "is_perishable"],
    "dim_stores": ["store_id", "store_name", "city", "region", "store_type", "cluster",
                   "size_sqft", "opened_date"],
    "fct_daily_sales": ["sale_date", "store_id", "product_id", "quantity", "gross_revenue",
                        "discount_amount", "net_revenue", "cost", "profit", "transactions"],
    "fct_inventory_snapshots": ["snapshot_date", "store_id", "product_id", "quantity_on_hand",
                                "quantity_on_order", "reorder_point", "inventory_value",
                                "is_stock_out"],
    "mart_supplier_performance": ["supplier_id", "supplier_name", "shipments", "lines",
                                  "on_time_rate", "fill_rate", "avg_lead_time_days",
                                  "late_shipments"],
    # The forecast marts (published from curated/ by the publish stage, issue 12).
    "fct_demand_forecast": ["forecast_date", "target_date", "store_id", "product_id", "model",
                            "model_version", "units", "units_p10", "units_p90"],
    "fct_demand_forecast_levels": ["forecast_date", "target_date", "level", "level_key", "model",
                                   "units", "units_p10", "units_p90"],
    "forecast_accuracy": ["backtest_date", "model", "level", "against", "origins",
                          "horizon_days", "wape", "mase", "bias", "oracle_wape",
                          "wape_ratio_to_oracle"],
}


class Rejected(Exception):
    """An API error: HTTP status and Metabase-style body."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(status, body)
        self.status, self.body = status, body


def _bad(message: str, **errors: str) -> Rejected:
    return Rejected(400, {"message": message, "errors": errors} if errors else {"message": message})


@dataclass
class State:
    """What the stand-in Metabase holds."""

    api_key: str
    users: dict[str, str] = field(default_factory=dict)
    marts_schema: str = "marts"
    databases: dict[int, dict[str, Any]] = field(default_factory=dict)
    fields: dict[int, dict[str, Any]] = field(default_factory=dict)  # field id -> field
    collections: dict[int, dict[str, Any]] = field(default_factory=dict)
    cards: dict[int, dict[str, Any]] = field(default_factory=dict)
    dashboards: dict[int, dict[str, Any]] = field(default_factory=dict)
    sessions: set[str] = field(default_factory=set)
    requests: list[tuple[str, str]] = field(default_factory=list)
    ids: Any = field(default_factory=lambda: itertools.count(1))

    @property
    def writes(self) -> list[tuple[str, str]]:
        """Requests that change state (logins excluded: they create a session, not content)."""
        return [(m, p) for m, p in self.requests if m in WRITE_METHODS and p != "/api/session"]

    def add_database(self, name: str, engine: str, details: dict[str, Any]) -> dict[str, Any]:
        """A connection whose marts schema is synced at once (a real sync takes a while)."""
        db_id = next(self.ids)
        tables = []
        for table, columns in MART_TABLES.items():
            table_id = next(self.ids)
            cols = []
            for column in columns:
                field_id = next(self.ids)
                self.fields[field_id] = {"id": field_id, "name": column, "table_id": table_id,
                                         "db_id": db_id}
                cols.append(self.fields[field_id])
            tables.append({"id": table_id, "name": table, "schema": self.marts_schema,
                           "db_id": db_id, "fields": cols})
        self.databases[db_id] = {"id": db_id, "name": name, "engine": engine,
                                 "details": details, "tables": tables}
        return self.databases[db_id]


class StandIn:
    """The request handling: routing, validation and state changes."""

    def __init__(self, state: State) -> None:
        self.state = state
        self.lock = threading.Lock()

    # --- auth ----------------------------------------------------------------------------
    def authenticate(self, headers: Any) -> None:
        if headers.get("X-API-KEY") == self.state.api_key:
            return
        if headers.get("X-Metabase-Session") in self.state.sessions:
            return
        raise Rejected(401, "Unauthenticated")

    # --- routing -------------------------------------------------------------------------
    def handle(self, method: str, path: str, query: dict[str, list[str]], headers: Any,
               body: Any) -> tuple[int, Any]:
        with self.lock:
            self.state.requests.append((method, path))
            if method == "POST" and path == "/api/session":
                if self.state.users.get(body.get("username")) != body.get("password"):
                    raise Rejected(401, {"errors": {"password": "did not match stored password"}})
                token = f"session-{len(self.state.sessions) + 1}"
                self.state.sessions.add(token)
                return 200, {"id": token}
            self.authenticate(headers)
            for pattern, handler in self.routes():
                match = re.fullmatch(pattern, f"{method} {path.rstrip('/') or '/'}")
                if match:
                    return handler(*[int(g) for g in match.groups()], query=query, body=body)
            raise Rejected(404, "API endpoint does not exist.")

    def routes(self) -> list[tuple[str, Any]]:
        return [
            (r"GET /api/user/current", lambda **_: (200, {"id": 1, "email": "admin@example.com"})),
            (r"GET /api/database", self.list_databases),
            (r"POST /api/database", self.create_database),
            (r"GET /api/database/(\d+)", self.get_database),
            (r"PUT /api/database/(\d+)", self.update_database),
            (r"GET /api/database/(\d+)/metadata", self.database_metadata),
            (r"POST /api/database/(\d+)/sync_schema", self.sync_schema),
            (r"GET /api/collection", self.list_collections),
            (r"POST /api/collection", self.create_collection),
            (r"PUT /api/collection/(\d+)", self.update_collection),
            (r"GET /api/collection/(\d+)/items", self.collection_items),
            (r"POST /api/card", self.create_card),
            (r"GET /api/card/(\d+)", self.get_card),
            (r"PUT /api/card/(\d+)", self.update_card),
            (r"POST /api/dashboard", self.create_dashboard),
            (r"GET /api/dashboard/(\d+)", self.get_dashboard),
            (r"PUT /api/dashboard/(\d+)", self.update_dashboard),
        ]

    # --- databases -----------------------------------------------------------------------
    def _database(self, db_id: int) -> dict[str, Any]:
        if db_id not in self.state.databases:
            raise Rejected(404, "Not found.")
        return self.state.databases[db_id]

    def _public_database(self, db: dict[str, Any]) -> dict[str, Any]:
        details = {k: ("**MetabasePass**" if k in {"password", "secret_key"} else v)
                   for k, v in db["details"].items()}
        return {"id": db["id"], "name": db["name"], "engine": db["engine"], "details": details}

    def list_databases(self, query: Any, body: Any) -> tuple[int, Any]:
        return 200, {"data": [self._public_database(d) for d in self.state.databases.values()],
                     "total": len(self.state.databases)}

    def get_database(self, db_id: int, query: Any, body: Any) -> tuple[int, Any]:
        return 200, self._public_database(self._database(db_id))

    def create_database(self, query: Any, body: Any) -> tuple[int, Any]:
        for key in ("name", "engine", "details"):
            if not body.get(key) and body.get(key) != {}:
                raise _bad(f"{key} is required", **{key: "value must be a non-blank string."})
        if body["engine"] not in ENGINES:
            raise _bad("Invalid engine", engine="value must be a valid database engine.")
        if not isinstance(body["details"], dict):
            raise _bad("Invalid details", details="Value must be a map.")
        return 200, self._public_database(self.state.add_database(body["name"], body["engine"],
                                                                  body["details"]))

    def update_database(self, db_id: int, query: Any, body: Any) -> tuple[int, Any]:
        db = self._database(db_id)
        if "engine" in body and body["engine"] not in ENGINES:
            raise _bad("Invalid engine", engine="value must be a valid database engine.")
        db.update({k: body[k] for k in ("name", "engine", "details") if k in body})
        return 200, self._public_database(db)

    def database_metadata(self, db_id: int, query: Any, body: Any) -> tuple[int, Any]:
        db = self._database(db_id)
        return 200, {**self._public_database(db), "tables": db["tables"]}

    def sync_schema(self, db_id: int, query: Any, body: Any) -> tuple[int, Any]:
        self._database(db_id)
        return 200, {"status": "ok"}

    # --- collections ---------------------------------------------------------------------
    def list_collections(self, query: Any, body: Any) -> tuple[int, Any]:
        root = {"id": "root", "name": "Our analytics", "location": None}
        return 200, [root, *self.state.collections.values()]

    def create_collection(self, query: Any, body: Any) -> tuple[int, Any]:
        if not body.get("name"):
            raise _bad("name is required", name="value must be a non-blank string.")
        parent = body.get("parent_id")
        if parent is not None and parent not in self.state.collections:
            raise Rejected(404, "Not found.")
        cid = next(self.state.ids)
        location = "/" if parent is None else f"{self.state.collections[parent]['location']}{parent}/"
        self.state.collections[cid] = {"id": cid, "name": body["name"], "archived": False,
                                       "description": body.get("description"),
                                       "location": location, "personal_owner_id": None}
        return 200, self.state.collections[cid]

    def update_collection(self, cid: int, query: Any, body: Any) -> tuple[int, Any]:
        if cid not in self.state.collections:
            raise Rejected(404, "Not found.")
        self.state.collections[cid].update({k: body[k] for k in ("name", "description") if k in body})
        return 200, self.state.collections[cid]

    def collection_items(self, cid: int, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        if cid not in self.state.collections:
            raise Rejected(404, "Not found.")
        models = set(query.get("models") or ["card", "dashboard"])
        items = [{"id": c["id"], "name": c["name"], "model": "card"}
                 for c in self.state.cards.values() if c["collection_id"] == cid]
        items += [{"id": d["id"], "name": d["name"], "model": "dashboard"}
                  for d in self.state.dashboards.values() if d["collection_id"] == cid]
        items = [i for i in items if i["model"] in models]
        return 200, {"data": items, "total": len(items), "models": sorted(models)}

    # --- cards ---------------------------------------------------------------------------
    def _check_card(self, body: dict[str, Any], partial: bool) -> None:
        required = ("name", "dataset_query", "display", "visualization_settings")
        for key in required:
            if not partial and key not in body:
                raise _bad(f"{key} is required", **{key: "value must be present."})
        if "name" in body and not body["name"]:
            raise _bad("Invalid name", name="value must be a non-blank string.")
        if "visualization_settings" in body and not isinstance(body["visualization_settings"], dict):
            raise _bad("Invalid visualization_settings", visualization_settings="Value must be a map.")
        collection_id = body.get("collection_id")
        if collection_id is not None and collection_id not in self.state.collections:
            raise Rejected(404, "Not found.")
        query = body.get("dataset_query")
        if query is None:
            return
        if query.get("type") != "native" or not isinstance(query.get("native"), dict):
            raise _bad("Invalid dataset_query", dataset_query="only native queries in this stand-in")
        if not isinstance(query.get("database"), int) or query["database"] not in self.state.databases:
            raise _bad(f"Invalid query: database {query.get('database')!r} does not exist",
                       dataset_query="database must be the id of an existing database")
        sql = query["native"].get("query") or ""
        tags = query["native"].get("template-tags") or {}
        for name in re.findall(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}", sql):
            if name not in tags:
                raise _bad(f"Invalid query: the SQL uses {{{{{name}}}}} but there is no such template tag")
        for name, tag in tags.items():
            if tag.get("name") != name or not tag.get("id") or not tag.get("display-name"):
                raise _bad(f"Invalid template tag {name!r}: id, name and display-name are required")
            if tag.get("type") == "dimension":
                dimension = tag.get("dimension")
                if (not isinstance(dimension, list) or dimension[:1] != ["field"]
                        or dimension[1] not in self.state.fields):
                    raise _bad(f"Invalid template tag {name!r}: dimension must be a known field, "
                               f"got {dimension!r}")
                if tag.get("widget-type") not in PARAMETER_TYPES:
                    raise _bad(f"Invalid template tag {name!r}: widget-type "
                               f"{tag.get('widget-type')!r} is not valid")
            elif tag.get("type") not in {"text", "number", "date", "boolean", "card", "snippet"}:
                raise _bad(f"Invalid template tag {name!r}: type {tag.get('type')!r}")

    def create_card(self, query: Any, body: Any) -> tuple[int, Any]:
        self._check_card(body, partial=False)
        card_id = next(self.state.ids)
        self.state.cards[card_id] = {
            "id": card_id, "type": body.get("type", "question"), "archived": False,
            **{k: body.get(k) for k in ("name", "description", "display", "visualization_settings",
                                        "dataset_query", "collection_id")}}
        return 200, self.state.cards[card_id]

    def _card(self, card_id: int) -> dict[str, Any]:
        if card_id not in self.state.cards:
            raise Rejected(404, "Not found.")
        return self.state.cards[card_id]

    def get_card(self, card_id: int, query: Any, body: Any) -> tuple[int, Any]:
        card = self._card(card_id)
        if (query.get("legacy-mbql") or ["false"])[0] == "true":
            return 200, card
        # Metabase 0.57+ answers in MBQL 5 unless asked for the legacy form.
        dq = card["dataset_query"]
        mbql5 = {"lib/type": "mbql/query", "database": dq["database"],
                 "stages": [{"lib/type": "mbql.stage/native", "native": dq["native"]["query"],
                             "template-tags": dq["native"].get("template-tags", {})}]}
        return 200, {**card, "dataset_query": mbql5}

    def update_card(self, card_id: int, query: Any, body: Any) -> tuple[int, Any]:
        card = self._card(card_id)
        self._check_card(body, partial=True)
        card.update({k: body[k] for k in ("name", "description", "display",
                                          "visualization_settings", "dataset_query",
                                          "collection_id", "type") if k in body})
        return 200, card

    # --- dashboards ----------------------------------------------------------------------
    def _check_parameters(self, parameters: Any) -> None:
        if not isinstance(parameters, list):
            raise _bad("Invalid parameters", parameters="value must be a sequence of maps")
        for p in parameters:
            if not isinstance(p, dict) or not p.get("id") or "type" not in p:
                raise _bad("Invalid parameters", parameters="parameter must be a map with :id and :type keys")
            if p["type"] not in PARAMETER_TYPES:
                raise _bad(f"Invalid parameter type {p['type']!r}", parameters="valid parameter type")

    def create_dashboard(self, query: Any, body: Any) -> tuple[int, Any]:
        if not body.get("name"):
            raise _bad("name is required", name="value must be a non-blank string.")
        if body.get("collection_id") is not None and body["collection_id"] not in self.state.collections:
            raise Rejected(404, "Not found.")
        self._check_parameters(body.get("parameters") or [])
        did = next(self.state.ids)
        self.state.dashboards[did] = {"id": did, "name": body["name"], "archived": False,
                                      "description": body.get("description"),
                                      "collection_id": body.get("collection_id"),
                                      "parameters": body.get("parameters") or [], "dashcards": []}
        return 200, self.state.dashboards[did]

    def get_dashboard(self, did: int, query: Any, body: Any) -> tuple[int, Any]:
        if did not in self.state.dashboards:
            raise Rejected(404, "Not found.")
        return 200, self.state.dashboards[did]

    def update_dashboard(self, did: int, query: Any, body: Any) -> tuple[int, Any]:
        if did not in self.state.dashboards:
            raise Rejected(404, "Not found.")
        dashboard = self.state.dashboards[did]
        parameters = body.get("parameters", dashboard["parameters"])
        self._check_parameters(parameters)
        parameter_types = {p["id"]: p["type"] for p in parameters}
        dashcards = body.get("dashcards")
        if dashcards is not None:
            dashcards = self._check_dashcards(dashboard, dashcards, parameter_types)
        dashboard.update({k: body[k] for k in ("name", "description", "collection_id") if k in body})
        dashboard["parameters"] = parameters
        if dashcards is not None:
            dashboard["dashcards"] = dashcards  # omitted dashcards are deleted, as in Metabase
        return 200, dashboard

    def _check_dashcards(self, dashboard: dict[str, Any], dashcards: Any,
                         parameter_types: dict[str, str]) -> list[dict[str, Any]]:
        if not isinstance(dashcards, list):
            raise _bad("Invalid dashcards", dashcards="value must be seq of maps in which ids are unique")
        ids = [d.get("id") for d in dashcards]
        if len(ids) != len(set(ids)):
            raise _bad("Invalid dashcards", dashcards="value must be seq of maps in which ids are unique")
        existing = {d["id"] for d in dashboard["dashcards"]}
        card_ids = {d.get("card_id") for d in dashcards}
        saved = []
        for d in dashcards:
            for key in ("id", "size_x", "size_y", "row", "col"):
                if not isinstance(d.get(key), int) or isinstance(d.get(key), bool):
                    raise _bad("Invalid dashcards", dashcards=f"{key} is required and must be an integer")
            if d["row"] < 0 or d["col"] < 0 or d["size_x"] < 1 or d["size_y"] < 1:
                raise _bad("Invalid dashcards", dashcards="row/col >= 0 and size_x/size_y >= 1")
            if d["col"] + d["size_x"] > 24:
                raise _bad(f"Invalid dashcards: card at col {d['col']} with size_x {d['size_x']} "
                           "is off the 24-column grid")
            if d["id"] >= 0 and d["id"] not in existing:
                raise Rejected(404, f"Not found: dashcard {d['id']} is not on dashboard {dashboard['id']}")
            if d.get("card_id") not in self.state.cards:
                raise Rejected(404, f"Not found: card {d.get('card_id')!r}")
            card = self.state.cards[d["card_id"]]
            tags = card["dataset_query"]["native"].get("template-tags") or {}
            for m in d.get("parameter_mappings") or []:
                if m.get("parameter_id") not in parameter_types:
                    raise _bad(f"Invalid parameter_mappings: dashboard has no parameter "
                               f"{m.get('parameter_id')!r}")
                if "card_id" not in m:
                    raise _bad("Invalid parameter_mappings: card_id is missing (Metabase would "
                               "silently ignore this filter)")
                if m["card_id"] not in card_ids or m["card_id"] != d["card_id"]:
                    raise _bad(f"Invalid parameter_mappings: card_id {m['card_id']!r} is not the "
                               "card of this dashcard")
                target = m.get("target")
                if (not isinstance(target, list) or len(target) != 2
                        or target[0] not in {"dimension", "variable"}
                        or not isinstance(target[1], list) or target[1][:1] != ["template-tag"]):
                    raise _bad(f"Invalid parameter_mappings target {target!r}")
                tag = tags.get(target[1][1])
                if tag is None:
                    raise _bad(f"Invalid parameter_mappings: card {card['id']} has no template tag "
                               f"{target[1][1]!r}")
                kind = "dimension" if tag["type"] == "dimension" else "variable"
                if target[0] != kind:
                    raise _bad(f"Invalid parameter_mappings: tag {tag['name']!r} needs a {kind} target")
                accepts = tag.get("widget-type") if kind == "dimension" else tag["type"]
                allowed = DRIVES.get(parameter_types[m["parameter_id"]])
                if allowed is not None and accepts not in allowed:
                    raise _bad(f"Invalid parameter_mappings: a {parameter_types[m['parameter_id']]} "
                               f"filter cannot drive {accepts!r}")
            new_id = d["id"] if d["id"] >= 0 else next(self.state.ids)
            saved.append({**{k: d.get(k) for k in ("card_id", "row", "col", "size_x", "size_y",
                                                    "visualization_settings", "series")},
                          "id": new_id, "dashboard_id": dashboard["id"],
                          "parameter_mappings": d.get("parameter_mappings") or []})
        return saved


class _Handler(BaseHTTPRequestHandler):
    standin: StandIn

    def log_message(self, *args: Any) -> None:  # keep test output clean
        pass

    def _serve(self) -> None:
        url = urlparse(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            status, payload = 400, {"message": "malformed JSON"}
        else:
            try:
                status, payload = self.standin.handle(self.command, url.path, parse_qs(url.query),
                                                      self.headers, body)
            except Rejected as exc:
                status, payload = exc.status, exc.body
        data = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain" if isinstance(payload, str) else "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = _serve


class StandInServer:
    """Start with ``with StandInServer(...) as server:``; ``server.url`` is its base URL."""

    def __init__(self, api_key: str = "test-api-key", users: dict[str, str] | None = None,
                 marts_schema: str = "marts") -> None:
        self.state = State(api_key=api_key, users=dict(users or {}), marts_schema=marts_schema)
        handler = type("Handler", (_Handler,), {"standin": StandIn(self.state)})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> StandInServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.shutdown()
        self._server.server_close()
