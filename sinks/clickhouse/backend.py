"""The one writer interface to ClickHouse, whatever runs it (chdb in-process, chdb over HTTP, a server).

Values cross this interface as Python objects of one convention on every backend: Decimal for
``Decimal(P,S)``, int for integers, float for floats, str for strings, ``datetime.date`` for Date,
lists for arrays and None for NULL. Backends that speak text (chdb, HTTP) decode with
:func:`decode_json_compact` so a Decimal never passes through a float.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Sequence
from datetime import date
from decimal import Decimal
from typing import Any, NamedTuple, Protocol, runtime_checkable

Columns = Sequence[Sequence[Any]]  # columnar data: one sequence per column, all the same length

# chdb/HTTP text output: decimals quoted (exact), 64-bit integers bare (Python ints are exact)
JSON_OUTPUT_SETTINGS = "output_format_json_quote_decimals=1, output_format_json_quote_64bit_integers=0"


class ClickHouseError(RuntimeError):
    """A statement failed on the backend; the message carries the backend's own text."""


class QueryResult(NamedTuple):
    columns: list[str]
    rows: list[tuple[Any, ...]]


@runtime_checkable
class ClickHouseBackend(Protocol):
    """What every backend offers. ``database`` is the current database of the connection."""

    name: str
    database: str

    def execute(self, sql: str) -> None: ...

    def query(self, sql: str) -> QueryResult: ...

    def insert(
        self, table: str, columns: Sequence[str], data: Columns, dedup_token: str | None = None
    ) -> int: ...

    def server_version(self) -> tuple[int, ...]: ...

    def close(self) -> None: ...


def qualify(database: str, table: str) -> str:
    """Return ``db.table`` unless the name is already qualified."""
    return table if "." in table else f"{database}.{table}"


_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def check_identifier(name: str, what: str = "identifier") -> str:
    """Refuse names that would need quoting: they are spliced into SQL text."""
    if not _IDENT.match(name):
        raise ValueError(f"bad {what} {name!r}: use letters, digits and underscores")
    return name


def quote_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def parse_version(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.strip().strip('"').split(".") if p.isdigit())


def _strip_wrappers(ch_type: str) -> str:
    for wrapper in ("Nullable(", "LowCardinality("):
        if ch_type.startswith(wrapper):
            return _strip_wrappers(ch_type[len(wrapper) : -1])
    return ch_type


def _nan_if_none(value: Any) -> Any:
    # ClickHouse's JSON writes nan/inf of a non-Nullable float as null
    return math.nan if value is None else float(value)


def value_decoder(ch_type: str) -> Callable[[Any], Any] | None:
    """Return a function turning a JSON value of ``ch_type`` into the Python convention (None: as is)."""
    nullable = ch_type.startswith("Nullable(")
    base = _strip_wrappers(ch_type)
    inner: Callable[[Any], Any] | None
    if base.startswith("Array("):
        element = value_decoder(base[len("Array(") : -1])
        if element is None:
            return None
        inner = lambda v: [element(x) for x in v]  # noqa: E731
    elif base.startswith("Decimal"):
        inner = Decimal
    elif base.startswith("Float"):
        inner = _nan_if_none if not nullable else float
    elif base == "Date":
        inner = date.fromisoformat
    elif base.startswith(("Int", "UInt")):
        inner = int
    else:
        return None
    if nullable:
        convert = inner
        return lambda v: None if v is None else convert(v)
    return inner


def fetch_column_types(backend: ClickHouseBackend, table: str) -> dict[str, str]:
    """Return ``{column: ClickHouse type}`` of a table, in definition order; a clear error if absent."""
    full = qualify(backend.database, table)
    db, name = full.split(".", 1)
    # no ORDER BY position: 18.16's system.columns has no such column, and lists in order anyway
    res = backend.query(
        f"SELECT name, type FROM system.columns WHERE database = {quote_string(db)} "
        f"AND table = {quote_string(name)}"
    )
    if not res.rows:
        raise ClickHouseError(f"table {full} does not exist (run `chimera db migrate`)")
    return {str(n): str(t) for n, t in res.rows}


def decode_json_compact(payload: bytes | str) -> QueryResult:
    """Decode ClickHouse ``JSONCompact`` output (written with :data:`JSON_OUTPUT_SETTINGS`)."""
    if not payload or not payload.strip():
        return QueryResult([], [])
    doc = json.loads(payload)
    meta = doc.get("meta", [])
    names = [m["name"] for m in meta]
    decoders = [value_decoder(m["type"]) for m in meta]
    rows = []
    for raw in doc.get("data", []):
        rows.append(tuple(v if d is None else d(v) for d, v in zip(decoders, raw, strict=True)))
    return QueryResult(names, rows)
