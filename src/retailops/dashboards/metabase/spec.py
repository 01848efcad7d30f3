"""The dashboard spec: what RetailOps wants to exist in Metabase, read from ``conf/``.

A spec names one collection, the questions (native SQL over the marts, with their filter
variables) and the dashboards (filters and a layout on Metabase's 24-column grid). The database
connection comes from the run parameters, one per Kedro environment. Everything here is checked
before any request is sent, so a bad layout or a dangling reference never half-provisions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Mapping

from retailops.dashboards.metabase.errors import MetabaseSpecError

GRID_COLUMNS = 24

# Where the SQL says ``{marts}``, the connection's schema of marts goes (``marts`` in DuckDB,
# ``retailops_marts`` on Athena), so one spec serves every environment.
MARTS_TOKEN = "{marts}"

# Metabase's parameter types and, for each, the template-tag types / widget types it may be
# mapped onto (metabase.lib.schema.parameter/types, "allowed-for"). Mapping anything else is
# either rejected or silently ignored by Metabase, so the spec refuses it up front.
ALLOWED_FOR: dict[str, frozenset[str]] = {
    "number": frozenset({"number", "number/=", "id", "category"}),
    "text": frozenset({"text", "string/=", "id", "category"}),
    "date": frozenset({"date", "date/single", "date/all-options", "id", "category"}),
    "date/single": frozenset({"date", "date/single", "date/all-options", "id", "category"}),
    "id": frozenset({"id"}),
    "category": frozenset({"category", "number", "text", "date", "boolean"}),
    "date/range": frozenset({"date/range", "date/all-options"}),
    "date/month-year": frozenset({"date/month-year", "date/all-options"}),
    "date/quarter-year": frozenset({"date/quarter-year", "date/all-options"}),
    "date/relative": frozenset({"date/relative", "date/all-options"}),
    "date/all-options": frozenset({"date/all-options"}),
    "number/=": frozenset({"number/=", "number", "id", "category"}),
    "number/!=": frozenset({"number/!="}),
    "number/between": frozenset({"number/between"}),
    "number/>=": frozenset({"number/>="}),
    "number/<=": frozenset({"number/<="}),
    "string/=": frozenset({"string/=", "text", "id", "category"}),
    "string/!=": frozenset({"string/!="}),
    "string/contains": frozenset({"string/contains"}),
    "string/does-not-contain": frozenset({"string/does-not-contain"}),
    "string/starts-with": frozenset({"string/starts-with"}),
    "string/ends-with": frozenset({"string/ends-with"}),
    "boolean/=": frozenset({"boolean/=", "boolean"}),
}
VARIABLE_TYPES = frozenset({"text", "number", "date", "boolean"})
DISPLAYS = frozenset({"table", "scalar", "line", "bar", "row", "area", "combo", "pie", "funnel",
                      "progress", "gauge", "map", "scatter", "waterfall", "pivot", "smartscalar",
                      "object"})
_TAG = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")
_SLUG = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class QuestionFilter:
    """A template tag of a native question: a field filter (``field``) or a plain variable."""

    name: str
    display_name: str
    field: str | None  # "table.column" in the marts schema, for field filters
    widget: str | None  # Metabase widget type of a field filter, e.g. "date/all-options"
    variable_type: str | None  # "text", "number", "date" for plain variables

    @property
    def tag_type(self) -> str:
        """Metabase's template-tag type: ``dimension`` for field filters."""
        return "dimension" if self.field else str(self.variable_type)

    @property
    def accepts(self) -> str:
        """The type a dashboard filter must be allowed for to map onto this tag."""
        return str(self.widget if self.field else self.variable_type)

    @property
    def target_kind(self) -> str:
        """How a dashboard parameter targets this tag: field filters are ``dimension``s."""
        return "dimension" if self.field else "variable"


@dataclass(frozen=True)
class Question:
    """A saved native-SQL question (a Metabase card)."""

    key: str
    name: str
    sql: str
    display: str
    description: str | None = None
    visualization_settings: Mapping[str, Any] = field(default_factory=dict)
    filters: tuple[QuestionFilter, ...] = ()

    def filter(self, name: str) -> QuestionFilter | None:
        """The question's template tag called ``name``, if any."""
        return next((f for f in self.filters if f.name == name), None)


@dataclass(frozen=True)
class DashboardFilter:
    """A dashboard parameter; it drives every card whose question has a tag of the same name."""

    slug: str
    name: str
    type: str

    @property
    def section_id(self) -> str | None:
        """The filter-picker section Metabase files this type under (``date``, ``string``...)."""
        return {"date": "date", "string": "string", "number": "number"}.get(self.type.split("/")[0])


@dataclass(frozen=True)
class DashboardCard:
    """A question placed on a dashboard at ``row``/``col`` with a size in grid units."""

    question: str
    row: int
    col: int
    size_x: int
    size_y: int
    visualization_settings: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Dashboard:
    """A dashboard: filters on top, cards on the 24-column grid."""

    key: str
    name: str
    description: str | None
    filters: tuple[DashboardFilter, ...]
    cards: tuple[DashboardCard, ...]


@dataclass(frozen=True)
class Collection:
    """The collection (folder) that holds every provisioned card and dashboard."""

    name: str
    description: str | None = None


@dataclass(frozen=True)
class DatabaseConnection:
    """The warehouse as Metabase connects to it, for one Kedro environment."""

    name: str
    engine: str
    details: Mapping[str, Any]
    marts_schema: str
    manage: bool = True  # False: the connection must already exist; RetailOps never edits it


@dataclass(frozen=True)
class DashboardSpec:
    """Everything RetailOps provisions in Metabase."""

    collection: Collection
    questions: Mapping[str, Question]
    dashboards: tuple[Dashboard, ...]


def _require(raw: Mapping[str, Any], key: str, where: str) -> Any:
    value = raw.get(key) if isinstance(raw, Mapping) else None
    if value in (None, ""):
        raise MetabaseSpecError(f"dashboard spec: {where} has no '{key}'")
    return value


def _int(raw: Mapping[str, Any], key: str, where: str) -> int:
    value = _require(raw, key, where)
    if isinstance(value, bool) or not isinstance(value, int):
        raise MetabaseSpecError(f"dashboard spec: {where}.{key}={value!r} is not an integer")
    return value


def _question_filter(name: str, raw: Mapping[str, Any], where: str) -> QuestionFilter:
    raw = raw or {}
    display_name = raw.get("display_name") or name.replace("_", " ").capitalize()
    if raw.get("field"):
        if str(raw["field"]).count(".") != 1:
            raise MetabaseSpecError(
                f"dashboard spec: {where}.field={raw['field']!r} must be 'table.column'")
        return QuestionFilter(name, display_name, str(raw["field"]), str(_require(raw, "widget", where)),
                              None)
    return QuestionFilter(name, display_name, None, None, str(raw.get("type") or "text"))


def load_spec(raw: Mapping[str, Any]) -> DashboardSpec:
    """Parse the YAML mapping of ``conf/base/metabase/dashboards.yml`` into a checked spec."""
    if not isinstance(raw, Mapping):
        raise MetabaseSpecError("dashboard spec: expected a mapping with collection, questions, dashboards")
    collection_raw = _require(raw, "collection", "the spec")
    collection = Collection(str(_require(collection_raw, "name", "collection")),
                            collection_raw.get("description"))
    questions: dict[str, Question] = {}
    for key, q in (_require(raw, "questions", "the spec") or {}).items():
        where = f"questions.{key}"
        questions[key] = Question(
            key=key, name=str(_require(q, "name", where)), sql=str(_require(q, "sql", where)),
            display=str(_require(q, "display", where)), description=q.get("description"),
            visualization_settings=dict(q.get("visualization_settings") or {}),
            filters=tuple(_question_filter(n, f, f"{where}.filters.{n}")
                          for n, f in (q.get("filters") or {}).items()))
    dashboards = []
    for key, d in (_require(raw, "dashboards", "the spec") or {}).items():
        where = f"dashboards.{key}"
        filters = tuple(DashboardFilter(str(_require(f, "slug", f"{where}.filters[{i}]")),
                                        str(_require(f, "name", f"{where}.filters[{i}]")),
                                        str(_require(f, "type", f"{where}.filters[{i}]")))
                        for i, f in enumerate(d.get("filters") or []))
        cards = tuple(DashboardCard(
            question=str(_require(c, "question", f"{where}.cards[{i}]")),
            row=_int(c, "row", f"{where}.cards[{i}]"),
            col=_int(c, "col", f"{where}.cards[{i}]"),
            size_x=_int(c, "size_x", f"{where}.cards[{i}]"),
            size_y=_int(c, "size_y", f"{where}.cards[{i}]"),
            visualization_settings=dict(c.get("visualization_settings") or {}))
            for i, c in enumerate(_require(d, "cards", where)))
        dashboards.append(Dashboard(key, str(_require(d, "name", where)), d.get("description"),
                                    filters, cards))
    spec = DashboardSpec(collection, questions, tuple(dashboards))
    problems = spec_problems(spec)
    if problems:
        raise MetabaseSpecError("dashboard spec: " + "; ".join(problems))
    return spec


def _overlaps(a: DashboardCard, b: DashboardCard) -> bool:
    return (a.col < b.col + b.size_x and b.col < a.col + a.size_x
            and a.row < b.row + b.size_y and b.row < a.row + a.size_y)


def spec_problems(spec: DashboardSpec) -> list[str]:
    """Every inconsistency Metabase would reject or silently ignore, in spec order."""
    problems: list[str] = []
    for key, q in spec.questions.items():
        where = f"questions.{key}"
        if q.display not in DISPLAYS:
            problems.append(f"{where}.display={q.display!r} is not a Metabase visualization")
        used = set(_TAG.findall(q.sql))
        declared = {f.name for f in q.filters}
        for name in sorted(used - declared):
            problems.append(f"{where}: the SQL uses {{{{{name}}}}} but filters does not declare it")
        for name in sorted(declared - used):
            problems.append(f"{where}.filters.{name} is declared but the SQL never uses {{{{{name}}}}}")
        for f in q.filters:
            if f.field and f.widget not in ALLOWED_FOR:
                problems.append(f"{where}.filters.{f.name}.widget={f.widget!r} is not a Metabase widget type")
            if not f.field and f.variable_type not in VARIABLE_TYPES:
                problems.append(f"{where}.filters.{f.name}.type={f.variable_type!r} is not one of "
                                f"{sorted(VARIABLE_TYPES)}")
    names = [d.name for d in spec.dashboards]
    for name in sorted({n for n in names if names.count(n) > 1}):
        problems.append(f"two dashboards are named {name!r}")
    card_names = [q.name for q in spec.questions.values()]
    for name in sorted({n for n in card_names if card_names.count(n) > 1}):
        problems.append(f"two questions are named {name!r}")
    for d in spec.dashboards:
        where = f"dashboards.{d.key}"
        slugs = [f.slug for f in d.filters]
        for f in d.filters:
            if not _SLUG.match(f.slug):
                problems.append(f"{where}.filters.{f.slug}: slug must be lower_snake_case")
            if f.type not in ALLOWED_FOR:
                problems.append(f"{where}.filters.{f.slug}.type={f.type!r} is not a Metabase filter type")
            if slugs.count(f.slug) > 1:
                problems.append(f"{where}.filters.{f.slug} is declared twice")
        for i, c in enumerate(d.cards):
            at = f"{where}.cards[{i}] ({c.question})"
            question = spec.questions.get(c.question)
            if question is None:
                problems.append(f"{at}: no question called {c.question!r}")
            if c.row < 0 or c.col < 0 or c.size_x < 1 or c.size_y < 1:
                problems.append(f"{at}: row/col must be >= 0 and sizes >= 1")
            if c.col + c.size_x > GRID_COLUMNS:
                problems.append(f"{at}: col {c.col} + size_x {c.size_x} = {c.col + c.size_x} is off "
                                f"the {GRID_COLUMNS}-column grid")
            for j, other in enumerate(d.cards[:i]):
                if _overlaps(c, other):
                    problems.append(f"{at} overlaps {where}.cards[{j}] ({other.question})")
            for f in d.filters:
                tag = question.filter(f.slug) if question else None
                if tag and f.type in ALLOWED_FOR and tag.accepts not in ALLOWED_FOR[f.type]:
                    problems.append(f"{at}: filter {f.slug!r} of type {f.type} cannot drive a "
                                    f"{tag.accepts} variable")
        for f in d.filters:
            if not any(spec.questions.get(c.question) and spec.questions[c.question].filter(f.slug)
                       for c in d.cards):
                problems.append(f"{where}.filters.{f.slug} drives no card (no question has "
                                f"{{{{{f.slug}}}}})")
    return problems


def load_connection(raw: Mapping[str, Any], name: str) -> DatabaseConnection:
    """The connection called ``name`` among the ``metabase.connections`` parameters."""
    if not isinstance(raw, Mapping) or name not in raw:
        known = ", ".join(sorted(raw or {})) if isinstance(raw, Mapping) else "none"
        raise MetabaseSpecError(
            f"metabase.connection={name!r} is not among metabase.connections ({known})")
    c = raw[name]
    where = f"metabase.connections.{name}"
    manage = bool(c.get("manage", True))
    return DatabaseConnection(
        name=str(_require(c, "name", where)),
        engine=str(_require(c, "engine", where)) if manage else str(c.get("engine") or ""),
        details=dict(c.get("details") or {}),
        marts_schema=str(_require(c, "marts_schema", where)),
        manage=manage)
