"""The chdb owner process, started as ``chimera up`` starts it, used through the chdb-http backend."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from chimera.model.clock import TestClock
from sinks.clickhouse.backend import ClickHouseError
from sinks.clickhouse.http_backend import ChdbHttpBackend
from sinks.clickhouse.migrate import load_migrations, migrate
from sinks.clickhouse.sink import BatchingSink

Owner = tuple[str, "subprocess.Popen[bytes]"]


def test_insert_and_query_through_the_owner(
    chdb_owner: Owner, fill_rows: Callable[..., list[dict[str, Any]]], unique_name: str
) -> None:
    url, _ = chdb_owner
    conn = ChdbHttpBackend(url, unique_name)
    assert conn.ping()
    assert len(migrate(conn)) >= 3
    assert migrate(conn) == []

    sink = BatchingSink(conn, TestClock(0), batch_rows=50)
    rows = fill_rows("BTCUSDT", 120)
    for offset, row in enumerate(rows):
        sink.add(row, table="fills", topic="ord.results", partition=0, offset=offset)
    assert sink.flush() == {("ord.results", 0): 119}
    for offset, row in enumerate(rows[:50]):  # a replay of the first batch after a crash
        sink.add(row, table="fills", topic="ord.results", partition=0, offset=offset)
    sink.flush()

    got = conn.query("SELECT count(), sum(price), max(top3_bid_px) FROM fills")
    assert got.columns == ["count()", "sum(price)", "max(top3_bid_px)"]
    assert got.rows == [
        (120, sum(r["price"] for r in rows), [Decimal("64123"), Decimal("64122.9"), Decimal("64122.8")])
    ]
    assert conn.server_version() >= (22, 2)


def test_bad_requests_get_clear_errors(chdb_owner: Owner, unique_name: str) -> None:
    url, _ = chdb_owner
    conn = ChdbHttpBackend(url, unique_name)
    with pytest.raises(ClickHouseError, match=r"answered 400: .*UNKNOWN_TABLE"):
        conn.query("SELECT * FROM no_such_table")
    with pytest.raises(ClickHouseError, match=r"answered 400: .*lacks 'table'"):
        conn._post("/insert", content=b'{"columns": [], "data": []}')
    assert httpx.get(f"{url}/nowhere").status_code == 404
    assert conn.ping()  # the owner is still serving


def test_owner_is_exclusive_and_stops_cleanly_on_sigterm(
    owner_factory: Callable[..., Owner], tmp_path: Path
) -> None:
    store = tmp_path / "store"
    url, proc = owner_factory(store, "--database", "chimera", "--migrate")
    migrated = ChdbHttpBackend(url, "chimera").query("SELECT count() FROM schema_migrations")
    assert migrated.rows == [(len(load_migrations()),)]  # --migrate applied the schema before serving

    cmd = [sys.executable, "-m", "sinks.clickhouse.chdb_server", "--path", str(store), "--port", "0"]
    second = subprocess.run(cmd, capture_output=True, timeout=60)
    assert second.returncode == 1
    assert b"chdb owner failed to start: cannot open chdb store" in second.stderr

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=15) == 0
    with pytest.raises(ClickHouseError, match="unreachable"):
        ChdbHttpBackend(url, "after_stop")
