"""Run what Athena would run, on DuckDB.

Three parts, each read from the real artefacts rather than restated:
- ``glue_tables`` reads the Glue tables of ``deploy/cfn/02-catalog.yaml`` (rendered with
  ``tests/deploy/cfn_render.py``) and ``register_glue_tables`` exposes each as a DuckDB view named
  ``awsdatacatalog.<database>.<table>`` over a local lake, reading the files the way the table's
  SerDe does: OpenCSVSerde as text columns by position, the header lines skipped, empty fields as
  ``''``; the OpenX JSON SerDe one record per line (an indented file fails, as on Athena);
  partition columns taken from the path by the projection's location template, and only the
  values the projection allows.
- ``trino_to_duckdb`` transpiles compiled Athena (Trino) SQL with sqlglot and rewrites the spots
  where DuckDB would silently compute something else: integer casts of text ('7.5' is NULL on
  Trino, 8 on DuckDB) and ``regexp_extract`` without a match (NULL on Trino, '' on DuckDB). The
  connection runs with ``integer_division`` so ``7 / 2`` is 3, as on Trino.
- ``run_models`` creates every model of a compiled dbt manifest in dependency order, views as
  views, tables and incremental models as tables (the compiled first-build SELECT).

What this cannot show: Athena's runtime (limits, timeouts, partition counts), IAM, S3.
"""

from __future__ import annotations

import csv
import glob
import os
import re
import sys
from dataclasses import dataclass, field
from datetime import date
from graphlib import TopologicalSorter
from pathlib import Path
from typing import Any

import duckdb
import sqlglot
from sqlglot import exp

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "dbt"))  # dbt_harness, test_athena_compile's fixtures
from tests.deploy.cfn_render import Renderer, template  # noqa: E402

CATALOG = "awsdatacatalog"
CSV_SERDE = "org.apache.hadoop.hive.serde2.OpenCSVSerde"
JSON_SERDE = "org.openx.data.jsonserde.JsonSerDe"
PARQUET_SERDE = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
GLUE_TYPES = {"string": "VARCHAR", "bigint": "BIGINT", "int": "INTEGER", "double": "DOUBLE",
              "boolean": "BOOLEAN", "date": "DATE"}
INTEGER_TYPES = {exp.DataType.Type.TINYINT, exp.DataType.Type.SMALLINT, exp.DataType.Type.INT,
                 exp.DataType.Type.BIGINT}


@dataclass
class GlueTable:
    """One AWS::Glue::Table of the catalog template, rendered."""

    database: str
    name: str
    columns: list[tuple[str, str]]
    partition_keys: list[str]
    location: str
    serde: str
    serde_parameters: dict[str, str]
    parameters: dict[str, str] = field(default_factory=dict)


def glue_tables(prefix: str | None = None) -> list[GlueTable]:
    """Every Glue table of deploy/cfn/02-catalog.yaml, as CloudFormation would create it."""
    tmpl = template("02-catalog.yaml")
    renderer = Renderer(tmpl, {"Prefix": prefix} if prefix else None)
    found = []
    for resource in tmpl["Resources"].values():
        if resource["Type"] != "AWS::Glue::Table":
            continue
        props = renderer.render(resource["Properties"])
        table = props["TableInput"]
        storage = table["StorageDescriptor"]
        found.append(GlueTable(
            database=props["DatabaseName"], name=table["Name"],
            columns=[(c["Name"], c["Type"]) for c in storage["Columns"]],
            partition_keys=[k["Name"] for k in table.get("PartitionKeys", [])],
            location=storage["Location"], serde=storage["SerdeInfo"]["SerializationLibrary"],
            serde_parameters=storage["SerdeInfo"].get("Parameters", {}),
            parameters=table.get("Parameters", {})))
    return found


def _local(s3_path: str, lake_root: Path) -> str:
    """s3://<lake bucket>/key -> <lake_root>/key (every table of the catalog lives in the lake)."""
    match = re.fullmatch(r"s3://[^/]+/(.*)", s3_path)
    if not match:
        raise ValueError(f"not an S3 location: {s3_path}")
    return str(lake_root / match.group(1))


def _files(table: GlueTable, lake_root: Path) -> list[tuple[str, dict[str, str]]]:
    """The files Athena reads for a table, each with its partition values.

    Unpartitioned: the files directly in the location (the catalog's unpartitioned locations
    hold no subfolders; whether Athena would descend into one is not emulated). Projected: the
    location template with each key as a wildcard, the keys read back from the path, and only
    the values the projection allows (a folder outside the date range or enum is never read).
    Hive skips files whose names start with '_' or '.'."""
    if not table.partition_keys:
        folder = _local(table.location, lake_root).rstrip("/")
        candidates = [(f, {}) for f in sorted(glob.glob(folder + "/*")) if os.path.isfile(f)]
    else:
        params = table.parameters
        assert params.get("projection.enabled") == "true", f"{table.name}: only projected partitions"
        location_template = _local(params["storage.location.template"], lake_root).rstrip("/")
        keys = re.findall(r"\$\{(\w+)\}", location_template)
        assert sorted(keys) == sorted(table.partition_keys), f"{table.name}: template keys {keys}"
        pattern = re.escape(location_template)
        for key in keys:
            pattern = pattern.replace(re.escape("${" + key + "}"), f"(?P<{key}>[^/]+)")
        wildcard = re.sub(r"\$\{\w+\}", "*", location_template)
        candidates = []
        for path in sorted(glob.glob(wildcard + "/*")):
            match = re.fullmatch(pattern + r"/[^/]+", path)
            if match and os.path.isfile(path) and all(
                    _projected(params, key, match.group(key)) for key in keys):
                candidates.append((path, match.groupdict()))
    return [(f, values) for f, values in candidates if not os.path.basename(f).startswith(("_", "."))]


def _projected(params: dict[str, str], key: str, value: str) -> bool:
    """Whether partition projection generates this value of a key."""
    kind = params[f"projection.{key}.type"]
    if kind == "enum":
        return value in params[f"projection.{key}.values"].split(",")
    if kind == "date":
        assert params[f"projection.{key}.format"] == "yyyy-MM-dd", "only yyyy-MM-dd projections"
        assert params.get(f"projection.{key}.interval.unit", "DAYS") == "DAYS"
        start, end = params[f"projection.{key}.range"].split(",")
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            return False
        try:
            day = date.fromisoformat(value)
        except ValueError:
            return False
        last = date.today() if end.strip().upper() == "NOW" else date.fromisoformat(end)
        return date.fromisoformat(start) <= day <= last
    raise AssertionError(f"projection type {kind} not emulated")


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def source_select(table: GlueTable, lake_root: Path, con: duckdb.DuckDBPyConnection) -> str:
    """A SELECT returning what Athena returns for ``select * from <table>``."""
    files = _files(table, lake_root)
    partition_columns = [f"cast(NULL as VARCHAR) as {_quote(k)}" for k in table.partition_keys]
    if not files:
        data = [f"cast(NULL as {GLUE_TYPES[t]}) as {_quote(c)}" for c, t in table.columns]
        return f"select {', '.join(data + partition_columns)} where false"
    file_list = "[" + ", ".join(_literal(f) for f, _ in files) + "]"
    # Partition values per file, joined on the file name (DuckDB's `filename` column).
    values = ", ".join("(" + ", ".join([_literal(f)] + [_literal(v[k]) for k in table.partition_keys])
                       + ")" for f, v in files)
    key_names = ", ".join(["file", *(_quote(k) for k in table.partition_keys)])
    partitions = f"(values {values}) as parts ({key_names})"
    if table.serde == CSV_SERDE:
        data = _csv_columns(table, [f for f, _ in files], file_list)
    elif table.serde == JSON_SERDE:
        data = _json_columns(table, file_list)
    elif table.serde == PARQUET_SERDE:
        # Parquet columns are matched by name (Athena's default for Parquet), typed by the file.
        data = {"relation": f"read_parquet({file_list}, hive_partitioning=false, filename=true)",
                "columns": [f"cast(src.{_quote(c)} as {GLUE_TYPES[t]}) as {_quote(c)}"
                            for c, t in table.columns]}
    else:
        raise AssertionError(f"{table.name}: SerDe {table.serde} not emulated")
    selected = ", ".join([*data["columns"], *(f"parts.{_quote(k)}" for k in table.partition_keys)])
    return f"select {selected} from {data['relation']} as src join {partitions} on src.filename = parts.file"


def _csv_columns(table: GlueTable, files: list[str], file_list: str) -> dict[str, Any]:
    """OpenCSVSerde: every column is text, taken by position (a file's extra trailing columns
    are not seen), the first skip.header.line.count lines of each file skipped, and an empty
    field is '' (DuckDB's reader gives NULL: coalesced back)."""
    serde = table.serde_parameters
    assert all(t == "string" for _, t in table.columns), f"{table.name}: OpenCSVSerde reads strings"
    skip = int(table.parameters.get("skip.header.line.count", "0"))
    # The widest line of any file fixes how many positions are read (DuckDB would sniff a
    # header-only file as one column); a shorter line is padded.
    width = max(_fields(path, serde) for path in files)
    positional = [f"c{i}" for i in range(width)]
    assert width >= len(table.columns), f"{table.name}: files have fewer columns than declared"
    names = ", ".join(f"'{c}': 'VARCHAR'" for c in positional)
    reader = (f"read_csv({file_list}, header=false, skip={skip}, auto_detect=false, hive_partitioning=false, "
              f"columns={{{names}}}, "
              f"null_padding=true, delim={_literal(serde.get('separatorChar', ','))}, "
              f"quote={_literal(serde.get('quoteChar', chr(34)))}, "
              f"escape={_literal(serde.get('escapeChar', chr(92)))}, filename=true)")
    columns = [f"coalesce(src.{_quote(positional[i])}, '') as {_quote(name)}"
               for i, (name, _) in enumerate(table.columns)]
    return {"relation": reader, "columns": columns}


def _fields(path: str, serde: dict[str, str]) -> int:
    """The most fields on any line of a CSV file."""
    with open(path, newline="") as handle:
        reader = csv.reader(handle, delimiter=serde.get("separatorChar", ","),
                            quotechar=serde.get("quoteChar", '"'), escapechar=serde.get("escapeChar", "\\"))
        return max((len(row) for row in reader), default=0)


def _json_columns(table: GlueTable, file_list: str) -> dict[str, Any]:
    """OpenX JSON SerDe: one JSON object per line. A line that is not a whole JSON object
    (a record spread over several lines, a truncated file) fails the query
    (HIVE_CURSOR_ERROR on Athena), or with `ignore.malformed.json` reads as a row of NULLs.
    Keys are found by column name or by the `mapping.<column>` SerDe parameter; a missing
    key is NULL."""
    serde = table.serde_parameters
    unknown = sorted(k for k in serde if not k.startswith("mapping.") and k != "ignore.malformed.json")
    assert not unknown, f"{table.name}: JSON SerDe parameters {unknown} not emulated"
    malformed = ("NULL" if serde.get("ignore.malformed.json", "false").lower() == "true" else
                 "error(concat('HIVE_CURSOR_ERROR: Row is not a valid JSON Object: ', filename))")
    lines = (f"(select filename, unnest(string_split(rtrim(content, chr(10)), chr(10))) as line "
             f"from read_text({file_list}))")
    reader = (f"(select filename, case when json_valid(line) and json_type(line) = 'OBJECT' "
              f"then line else {malformed} end as json from {lines})")
    columns = []
    for name, glue_type in table.columns:
        key = serde.get(f"mapping.{name}", name)
        columns.append(f"cast(json_extract_string(src.json, {_literal('$.' + key)}) as "
                       f"{GLUE_TYPES[glue_type]}) as {_quote(name)}")
    return {"relation": reader, "columns": columns}


def connect() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB whose default catalog is named like Athena's, with Trino's
    integer division."""
    con = duckdb.connect()
    con.execute(f"attach ':memory:' as {CATALOG}")
    con.execute(f"use {CATALOG}")
    con.execute("set integer_division = true")
    return con


def register_glue_tables(con: duckdb.DuckDBPyConnection, lake_root: Path,
                         tables: list[GlueTable] | None = None) -> list[GlueTable]:
    """Create ``awsdatacatalog.<database>.<table>`` views over the lake for every Glue table."""
    tables = glue_tables() if tables is None else tables
    for table in tables:
        con.execute(f"create schema if not exists {CATALOG}.{_quote(table.database)}")
        con.execute(f"create or replace view {CATALOG}.{_quote(table.database)}.{_quote(table.name)} "
                    f"as {source_select(table, lake_root, con)}")
    return tables


def _trino_integer_cast(node: exp.Expression) -> exp.Expression:
    """Trino casts text to an integer type only when it is an optional sign and digits
    ('7.5', '1e1', ' 7' are NULL for try_cast, an error for cast); DuckDB rounds '7.5' to 8.
    Other operand types (numbers) cast as before."""
    if not isinstance(node, (exp.Cast, exp.TryCast)) or node.to.this not in INTEGER_TYPES:
        return node
    operand = node.this
    if isinstance(operand, exp.Literal) and not operand.is_string:
        return node
    text = exp.cast(operand.copy(), exp.DataType.Type.VARCHAR)
    integral = exp.func("regexp_full_match", text, exp.Literal.string("[+-]?[0-9]+"))
    not_text = exp.NEQ(this=exp.func("typeof", operand.copy()), expression=exp.Literal.string("VARCHAR"))
    allowed = exp.or_(exp.Is(this=operand.copy(), expression=exp.Null()), not_text, integral)
    # Not a constant message: DuckDB would fold error('...') and raise while binding.
    otherwise = None if isinstance(node, exp.TryCast) else exp.func("error", exp.func(
        "concat", exp.Literal.string("INVALID_CAST_ARGUMENT: Cannot cast to integer: "), text.copy()))
    case = exp.Case(ifs=[exp.If(this=allowed, true=node.copy())], default=otherwise)
    return exp.cast(case, node.to.copy())


def _trino_regexp_extract(node: exp.Expression) -> exp.Expression:
    """Trino's regexp_extract returns NULL when nothing matches; DuckDB's returns ''."""
    if not isinstance(node, exp.RegexpExtract):
        return node
    matches = exp.func("regexp_matches", node.this.copy(), node.expression.copy())
    return exp.Case(ifs=[exp.If(this=matches, true=node.copy())])


def trino_to_duckdb(sql: str) -> str:
    """Compiled Athena SQL as DuckDB SQL that computes what Trino computes (see module doc)."""
    tree = sqlglot.parse_one(sql, read="trino")
    tree = tree.transform(_trino_integer_cast, copy=False)
    tree = tree.transform(_trino_regexp_extract, copy=False)
    return tree.sql(dialect="duckdb")


def model_order(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """The manifest's models in dependency order (each after the models it selects from)."""
    models = {key: node for key, node in manifest["nodes"].items() if node["resource_type"] == "model"}
    graph = {key: [d for d in node["depends_on"]["nodes"] if d in models] for key, node in models.items()}
    return [models[key] for key in TopologicalSorter(graph).static_order()]


def run_models(con: duckdb.DuckDBPyConnection, manifest: dict[str, Any]) -> list[str]:
    """Create every compiled model, in dependency order; return their relation names."""
    created = []
    for node in model_order(manifest):
        relation = node["relation_name"]
        con.execute(f"create schema if not exists {CATALOG}.{_quote(node['schema'])}")
        kind = "view" if node["config"]["materialized"] == "view" else "table"
        try:
            con.execute(f"create or replace {kind} {relation} as {trino_to_duckdb(node['compiled_code'])}")
        except duckdb.Error as error:
            raise AssertionError(f"{node['name']}: {error}") from error
        created.append(relation)
    return created
