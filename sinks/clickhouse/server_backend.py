"""A clickhouse-server over the native protocol (clickhouse-driver), columnar inserts."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import unquote, urlparse

from sinks.clickhouse.backend import (
    ClickHouseError,
    Columns,
    QueryResult,
    check_identifier,
    fetch_column_types,
    parse_version,
    qualify,
)
from sinks.clickhouse.dialect import Dialect, dialect_of


def _client(url: str, database: str) -> Any:
    from clickhouse_driver import Client

    parts = urlparse(url)
    if parts.scheme not in ("clickhouse", "clickhouses"):
        raise ValueError(f"clickhouse_url must look like clickhouse://user@host:9000/db, got {url!r}")
    return Client(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 9000,
        user=unquote(parts.username or "default"),
        password=unquote(parts.password or ""),
        database=database,
        secure=parts.scheme == "clickhouses",
        settings={"strings_as_bytes": False},
    )


def _decimals(values: Sequence[Any], table: str, column: str) -> list[Any]:
    out = []
    for v in values:
        if v is None or isinstance(v, Decimal):
            out.append(v)
            continue
        try:
            out.append(Decimal(str(v)))
        except InvalidOperation as exc:
            raise ClickHouseError(f"{table}.{column}: not a decimal: {v!r}") from exc
    return out


def _is_decimal(ch_type: str) -> bool:
    return ch_type.startswith(("Decimal", "Nullable(Decimal"))


class ServerBackend:
    name = "server"

    def __init__(self, url: str, database: str) -> None:
        self.url = url
        self.database = check_identifier(database, "database name")
        bootstrap = _client(url, "default")  # the target database may not exist yet
        try:
            bootstrap.execute(f"CREATE DATABASE IF NOT EXISTS {self.database}")
        except Exception as exc:
            raise ClickHouseError(f"clickhouse-server at {url}: {exc}") from exc
        finally:
            bootstrap.disconnect()
        self._client = _client(url, self.database)
        self._lock = threading.Lock()  # one native connection: one statement at a time
        self._types: dict[str, dict[str, str]] = {}
        self._dialect: Dialect | None = None  # filled by dialect_of()

    def _execute(self, sql: str, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            try:
                return self._client.execute(sql, *args, **kwargs)
            except Exception as exc:  # clickhouse-driver errors carry the server's code and text
                raise ClickHouseError(f"{exc}\n  in: {sql[:500]}") from exc

    def execute(self, sql: str) -> None:
        self._execute(sql)
        self._types.clear()  # a DDL statement may have changed a table

    def query(self, sql: str) -> QueryResult:
        rows, meta = self._execute(sql, with_column_types=True)
        return QueryResult([name for name, _ in meta], [tuple(r) for r in rows])

    def column_types(self, table: str) -> dict[str, str]:
        full = qualify(self.database, table)
        if full not in self._types:
            self._types[full] = fetch_column_types(self, full)
        return self._types[full]

    def insert(
        self, table: str, columns: Sequence[str], data: Columns, dedup_token: str | None = None
    ) -> int:
        full = qualify(self.database, table)
        types = self.column_types(full)
        if len(columns) != len(data):
            raise ClickHouseError(f"{full}: {len(columns)} column names but {len(data)} columns of data")
        prepared: list[Sequence[Any]] = []
        for name, values in zip(columns, data, strict=True):
            if name not in types:
                raise ClickHouseError(f"{full}: unknown column {name!r}")
            prepared.append(_decimals(values, full, name) if _is_decimal(types[name]) else values)
        if not prepared or len(prepared[0]) == 0:
            return 0
        names = ", ".join(check_identifier(c, "column name") for c in columns)
        settings = (
            {"insert_deduplication_token": dedup_token}
            if dedup_token and dialect_of(self).dedup_token
            else {}
        )
        self._execute(f"INSERT INTO {full} ({names}) VALUES", prepared, columnar=True, settings=settings)
        return len(prepared[0])

    def server_version(self) -> tuple[int, ...]:
        return parse_version(str(self.query("SELECT version()").rows[0][0]))

    def close(self) -> None:
        self._client.disconnect()
