"""Client of the chdb owner process (:mod:`sinks.clickhouse.chdb_server`) over HTTP."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any

import httpx

from sinks.clickhouse.backend import (
    ClickHouseError,
    Columns,
    QueryResult,
    check_identifier,
    decode_json_compact,
    parse_version,
)


def _json_default(value: Any) -> Any:
    # Decimal travels as its exact string; the owner rebuilds it against the column type
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"cannot send a {type(value).__name__} to ClickHouse: {value!r}")


def _first(values: Sequence[Any]) -> Any:
    return next((v for v in values if v is not None and v != []), None)


def _jsonable(column: Sequence[Any]) -> list[Any]:
    """Stringify Decimal columns up front: json's C encoder then never calls back into Python."""
    first = _first(column)
    if isinstance(first, Decimal):
        return [None if v is None else str(v) for v in column]
    if isinstance(first, list | tuple) and isinstance(_first(first), Decimal):
        return [None if v is None else [None if x is None else str(x) for x in v] for v in column]
    return list(column)


class ChdbHttpBackend:
    name = "chdb-http"

    def __init__(self, base_url: str, database: str, timeout_s: float = 60.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.database = check_identifier(database, "database name")
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout_s)
        self._post("/query", content=f"CREATE DATABASE IF NOT EXISTS {self.database}".encode())

    def _post(self, path: str, **kwargs: Any) -> bytes:
        try:
            resp = self._http.post(path, params={"database": self.database}, **kwargs)
        except httpx.HTTPError as exc:
            raise ClickHouseError(
                f"chdb owner at {self.base_url} unreachable ({exc}); is `chimera up` running?"
            ) from exc
        if resp.status_code != 200:
            raise ClickHouseError(f"chdb owner answered {resp.status_code}: {resp.text.strip()}")
        return resp.content

    def ping(self) -> bool:
        try:
            return self._http.get("/ping").text.strip() == "Ok."
        except httpx.HTTPError:
            return False

    def execute(self, sql: str) -> None:
        self._post("/query", content=sql.encode())

    def query(self, sql: str) -> QueryResult:
        return decode_json_compact(self._post("/query", content=sql.encode()))

    def insert(
        self, table: str, columns: Sequence[str], data: Columns, dedup_token: str | None = None
    ) -> int:
        doc = {
            "database": self.database,
            "table": table,
            "columns": list(columns),
            "data": [_jsonable(col) for col in data],
            "dedup_token": dedup_token,
        }
        body = json.dumps(doc, default=_json_default, allow_nan=True).encode()
        return int(json.loads(self._post("/insert", content=body))["rows"])

    def server_version(self) -> tuple[int, ...]:
        return parse_version(str(self.query("SELECT version()").rows[0][0]))

    def close(self) -> None:
        self._http.close()
