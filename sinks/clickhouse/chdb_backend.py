"""chdb in this process: the ClickHouse engine as a library, file-backed.

chdb allows one data directory per process (a second path fails with "EmbeddedServer already
initialized"), so sessions are shared per path here and a different path is refused with a clear
error. Calls are serialised with a lock: one session is not safe to drive from two threads.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sinks.clickhouse.arrow import build_table
from sinks.clickhouse.backend import (
    JSON_OUTPUT_SETTINGS,
    ClickHouseError,
    Columns,
    QueryResult,
    check_identifier,
    decode_json_compact,
    fetch_column_types,
    parse_version,
    qualify,
    quote_string,
)
from sinks.clickhouse.dialect import dialect_of

_LOCK = threading.RLock()
_OPEN: dict[str, tuple[Any, int]] = {}  # resolved path -> (session, reference count)


def _acquire(path: Path) -> Any:
    from chdb import session as chdb_session

    key = str(path.resolve())
    with _LOCK:
        if key in _OPEN:
            sess, refs = _OPEN[key]
            _OPEN[key] = (sess, refs + 1)
            return sess
        if _OPEN:
            other = next(iter(_OPEN))
            raise ClickHouseError(
                f"chdb store {other} is already open in this process; chdb serves one data dir "
                f"per process, so {key} must be reached through its owner (backend 'chdb-http')"
            )
        path.mkdir(parents=True, exist_ok=True)
        try:
            sess = chdb_session.Session(key)
        except Exception as exc:  # chdb raises bare RuntimeError when another process holds the dir
            raise ClickHouseError(
                f"cannot open chdb store {key}: {exc} (another process owns it? if `chimera up` runs, "
                "use --backend chdb-http)"
            ) from exc
        for setting in JSON_OUTPUT_SETTINGS.split(", "):
            sess.query(f"SET {setting}", "Null")  # session-wide, so any statement may be a query
        _OPEN[key] = (sess, 1)
        return sess


def current_store() -> Path | None:
    """The chdb store open in this process, if any (tests share it rather than fail on a second)."""
    with _LOCK:
        return Path(next(iter(_OPEN))) if _OPEN else None


def _release(path: Path) -> None:
    key = str(path.resolve())
    with _LOCK:
        if key not in _OPEN:
            return
        sess, refs = _OPEN[key]
        if refs > 1:
            _OPEN[key] = (sess, refs - 1)
            return
        del _OPEN[key]
        sess.close()


class ChdbBackend:
    name = "chdb"

    def __init__(self, path: Path, database: str) -> None:
        self.path = Path(path)
        self.database = check_identifier(database, "database name")
        self._session = _acquire(self.path)
        self._types: dict[str, dict[str, str]] = {}
        self._closed = False
        self._run(f"CREATE DATABASE IF NOT EXISTS {self.database}", "Null", use=False)

    def _run(self, sql: str, fmt: str = "JSONCompact", use: bool = True) -> bytes:
        if self._closed:
            raise ClickHouseError("chdb backend is closed")
        with _LOCK:
            try:
                # USE each time: the session is shared, another backend may have switched it
                if use:
                    self._session.query(f"USE {self.database}", "Null")
                out = self._session.query(sql, fmt)
            except Exception as exc:
                raise ClickHouseError(f"{exc}\n  in: {sql[:500]}") from exc
        return bytes(out.bytes()) if out is not None else b""

    def execute(self, sql: str) -> None:
        self._run(sql, "Null")
        self._types.clear()  # a DDL statement may have changed a table

    def query(self, sql: str) -> QueryResult:
        return decode_json_compact(self._run(sql))

    def query_raw(self, sql: str) -> bytes:
        """Return the JSONCompact bytes as chdb wrote them (the HTTP owner passes them through)."""
        return self._run(sql)

    def column_types(self, table: str) -> dict[str, str]:
        full = qualify(self.database, table)
        if full not in self._types:
            self._types[full] = fetch_column_types(self, full)
        return self._types[full]

    def insert(
        self, table: str, columns: Sequence[str], data: Columns, dedup_token: str | None = None
    ) -> int:
        full = qualify(self.database, table)
        arrow = build_table(full, columns, data, self.column_types(full))
        if arrow.num_rows == 0:
            return 0
        names = ", ".join(check_identifier(c, "column name") for c in columns)
        token = ""
        if dedup_token is not None and dialect_of(self).dedup_token:
            token = f"SETTINGS insert_deduplication_token = {quote_string(dedup_token)} "
        # chdb's Python() table function finds the table by this local variable's name
        _chimera_arrow = arrow
        self._run(f"INSERT INTO {full} ({names}) {token}SELECT {names} FROM Python(_chimera_arrow)", "Null")
        return int(arrow.num_rows)

    def server_version(self) -> tuple[int, ...]:
        return parse_version(str(self.query("SELECT version()").rows[0][0]))

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            _release(self.path)
