"""Fixtures: one migrated database per backend per test session (chdb in a temp dir, and the real
clickhouse-server), dropped at the end; factories for fills rows and sinks."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from chimera.model.clock import TestClock
from sinks.clickhouse.backend import ClickHouseBackend
from sinks.clickhouse.chdb_backend import ChdbBackend, current_store
from sinks.clickhouse.migrate import migrate
from sinks.clickhouse.server_backend import ServerBackend
from sinks.clickhouse.sink import BatchingSink

BACKENDS = ["chdb", "server"]


@pytest.fixture(scope="session")
def chdb_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The one chdb store of this test process (chdb allows one data dir per process): the one
    already open if another test opened one, else a temp dir. Tests use their own databases."""
    return current_store() or tmp_path_factory.mktemp("chdb")


def open_test_backend(kind: str, chdb_dir: Path, clickhouse_url: str, database: str) -> ClickHouseBackend:
    if kind == "chdb":
        return ChdbBackend(chdb_dir, database)
    return ServerBackend(clickhouse_url, database)


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest, chdb_dir: Path) -> Iterator[ClickHouseBackend]:
    """A migrated database unique to this session, on chdb and on clickhouse-server 18.16."""
    url = request.getfixturevalue("clickhouse_url") if request.param == "server" else ""
    conn = open_test_backend(request.param, chdb_dir, url, f"t_ch_{uuid.uuid4().hex[:10]}")
    migrate(conn)
    yield conn
    conn.execute(f"DROP DATABASE IF EXISTS {conn.database}")
    conn.close()


@pytest.fixture
def fresh_backend(
    request: pytest.FixtureRequest, chdb_dir: Path, unique_name: str
) -> Iterator[Callable[[str], ClickHouseBackend]]:
    """Factory: an empty database (not migrated) on the given backend, dropped after the test."""
    opened: list[ClickHouseBackend] = []

    def make(kind: str) -> ClickHouseBackend:
        url = request.getfixturevalue("clickhouse_url") if kind == "server" else ""
        conn = open_test_backend(kind, chdb_dir, url, unique_name[:60])
        opened.append(conn)
        return conn

    yield make
    for conn in opened:
        conn.execute(f"DROP DATABASE IF EXISTS {conn.database}")
        conn.close()


@pytest.fixture
def fill_rows() -> Callable[..., list[dict[str, Any]]]:
    """Factory: ``fill_rows(symbol, count, start=0)`` -> fills rows as S4 writes them."""

    def make(symbol: str, count: int, start: int = 0) -> list[dict[str, Any]]:
        return [fill_row(symbol, n) for n in range(start, start + count)]

    return make


def fill_row(symbol: str, n: int, **overrides: Any) -> dict[str, Any]:
    """A fills row as S4 writes it; ``n`` makes trade_id and price distinct."""
    row: dict[str, Any] = {
        "trade_id": f"T{n}",
        "client_order_id": f"c-{symbol}-{n // 3}",
        "intent_id": f"i-{symbol}-{n // 3}",
        "symbol": symbol,
        "market": "FUT",
        "side": "BUY" if n % 2 == 0 else "SELL",
        "price": Decimal("64123.1") + Decimal(n) / 10,
        "qty": Decimal("0.001"),
        "fee": Decimal("0.025649240001"),
        "fee_asset": "USDT",
        "is_maker": n % 2,
        "mid_at_send": Decimal("64123.05"),
        "top3_bid_px": [Decimal("64123.0"), Decimal("64122.9"), Decimal("64122.8")],
        "top3_bid_qty": [Decimal("1.2"), Decimal("0.5"), Decimal("3")],
        "top3_ask_px": [Decimal("64123.1"), Decimal("64123.2"), Decimal("64123.3")],
        "top3_ask_qty": [Decimal("0.7"), Decimal("2"), Decimal("0.01")],
        "slippage_bps": 0.0078,
        "ts": 1_735_689_600_000 + n,
    }
    row.update(overrides)
    return row


@pytest.fixture
def make_sink() -> Callable[..., tuple[BatchingSink, TestClock]]:
    def make(backend: ClickHouseBackend, **kwargs: Any) -> tuple[BatchingSink, TestClock]:
        clock = TestClock(1_735_689_600_000)
        return BatchingSink(backend, clock, **kwargs), clock

    return make


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_chdb_owner(store: Path, *extra: str) -> tuple[str, subprocess.Popen[bytes]]:
    """Start the chdb owner process on ``store`` as ``chimera up`` does; wait for /ping."""
    port = free_port()
    cmd = [sys.executable, "-m", "sinks.clickhouse.chdb_server", "--path", str(store), "--port", str(port)]
    log = store.parent / f"{store.name}.owner.log"  # a file, not a pipe nobody drains
    with log.open("wb") as out:
        proc = subprocess.Popen([*cmd, *extra], stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/ping", timeout=1).text == "Ok.\n":
                return url, proc
        except httpx.HTTPError:
            time.sleep(0.1)
        if proc.poll() is not None:
            pytest.fail(f"chdb owner exited: {log.read_text(errors='replace')}")
    proc.kill()
    pytest.fail("chdb owner did not answer /ping within 30 s")


def stop_chdb_owner(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        proc.wait(timeout=15)


@pytest.fixture(scope="session")
def chdb_owner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """One chdb owner process for the session; tests use their own databases on it."""
    url, proc = start_chdb_owner(tmp_path_factory.mktemp("owned"))
    yield url, proc
    stop_chdb_owner(proc)


@pytest.fixture
def owner_factory() -> Iterator[Callable[..., tuple[str, subprocess.Popen[bytes]]]]:
    """Factory: ``start(store, *args)`` an owner; every one started is stopped after the test."""
    started: list[subprocess.Popen[bytes]] = []

    def start(store: Path, *extra: str) -> tuple[str, subprocess.Popen[bytes]]:
        url, proc = start_chdb_owner(store, *extra)
        started.append(proc)
        return url, proc

    yield start
    for proc in started:
        stop_chdb_owner(proc)
