"""Bench: fills-like rows through the batching sink vs a raw columnar insert of the same rows.

For each backend (chdb in this process, the chdb owner over HTTP, clickhouse-server), in the same
run: ``raw`` inserts pre-built columns in chunks of ``--batch`` rows (the backend's fast path, no
checks); ``sink`` feeds row dicts one by one through BatchingSink (validation, batching, tokens)
and flushes. Prints rows/s, the sink/raw ratio and, last, one JSON line with the figures.

    .venv/bin/python bench/sink_clickhouse.py --rows 200000
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from chimera.model.clock import TestClock
from sinks.clickhouse.backend import ClickHouseBackend
from sinks.clickhouse.migrate import migrate
from sinks.clickhouse.schema import columnar, load_schema
from sinks.clickhouse.sink import BatchingSink

SYMBOLS = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT"]


def make_rows(n: int) -> list[dict[str, Any]]:
    rows = []
    for i in range(n):
        px = Decimal(64_000 + i % 5_000) + Decimal(i % 10) / 10
        rows.append(
            {
                "trade_id": f"T{i}",
                "client_order_id": f"c{i // 4}",
                "intent_id": f"i{i // 8}",
                "symbol": SYMBOLS[i % 4],
                "market": "FUT",
                "side": "BUY" if i % 2 else "SELL",
                "price": px,
                "qty": Decimal("0.003"),
                "fee": Decimal("0.0768"),
                "fee_asset": "USDT",
                "is_maker": i % 2,
                "mid_at_send": px - Decimal("0.05"),
                "top3_bid_px": [px - Decimal("0.1"), px - Decimal("0.2"), px - Decimal("0.3")],
                "top3_bid_qty": [Decimal("1.5"), Decimal("0.2"), Decimal("3")],
                "top3_ask_px": [px, px + Decimal("0.1"), px + Decimal("0.2")],
                "top3_ask_qty": [Decimal("0.4"), Decimal("2"), Decimal("0.7")],
                "slippage_bps": (i % 7) * 0.1,
                "ts": 1_735_689_600_000 + i,
            }
        )
    return rows


def timed(fn: Callable[[], None]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def bench_backend(
    open_db: Callable[[str], ClickHouseBackend], rows: list[dict[str, Any]], batch: int
) -> dict[str, float]:
    tag = uuid.uuid4().hex[:8]
    raw_db, sink_db = open_db(f"bench_raw_{tag}"), open_db(f"bench_sink_{tag}")
    try:
        migrate(raw_db)
        migrate(sink_db)
        schema = load_schema(raw_db, "fills")
        chunks = [
            columnar([tuple(r[c] for c in schema.columns) for r in rows[i : i + batch]], len(schema.columns))
            for i in range(0, len(rows), batch)
        ]

        def raw() -> None:
            for chunk in chunks:
                raw_db.insert("fills", schema.columns, chunk)

        sink = BatchingSink(sink_db, TestClock(0), batch_rows=batch, flush_ms=10**9)

        def through_sink() -> None:
            for offset, row in enumerate(rows):
                sink.add(row, table="fills", topic="ord.results", partition=0, offset=offset)
            sink.flush()

        raw_s, sink_s = timed(raw), timed(through_sink)
        for conn in (raw_db, sink_db):
            count = conn.query("SELECT count() FROM fills FINAL").rows[0][0]
            assert count == len(rows), f"{conn.name}: {count} rows in fills, expected {len(rows)}"
        n = len(rows)
        return {
            "raw_rows_s": round(n / raw_s),
            "sink_rows_s": round(n / sink_s),
            "sink_vs_raw": round(raw_s / sink_s, 3),
        }
    finally:
        for conn in (raw_db, sink_db):
            conn.execute(f"DROP DATABASE IF EXISTS {conn.database}")
            conn.close()


def start_owner(path: Path) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [sys.executable, "-m", "sinks.clickhouse.chdb_server", "--path", str(path), "--port", str(port)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(f"{url}/ping", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("chdb owner did not start")


def backend_opener(
    kind: str, tmp: Path, server_url: str
) -> tuple[Callable[[str], ClickHouseBackend], subprocess.Popen[bytes] | None]:
    """Return (database -> backend, the owner process to stop afterwards, if any)."""
    if kind == "chdb":
        from sinks.clickhouse.chdb_backend import ChdbBackend

        return (lambda db: ChdbBackend(tmp / "chdb", db)), None
    if kind == "chdb-http":
        from sinks.clickhouse.http_backend import ChdbHttpBackend

        owner, url = start_owner(tmp / "owned")
        return (lambda db: ChdbHttpBackend(url, db)), owner
    from sinks.clickhouse.server_backend import ServerBackend

    return (lambda db: ServerBackend(server_url, db)), None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=5_000, help="rows per insert (sink_batch_rows)")
    parser.add_argument("--url", default="clickhouse://default@127.0.0.1:19000/default")
    parser.add_argument("--backends", default="chdb,chdb-http,server")
    args = parser.parse_args()

    rows = make_rows(args.rows)
    tmp = Path(tempfile.mkdtemp(prefix="bench_ch_"))
    results: dict[str, Any] = {"rows": args.rows, "batch_rows": args.batch}
    for kind in args.backends.split(","):
        opener, owner = backend_opener(kind, tmp, args.url)
        try:
            results[kind] = figures = bench_backend(opener, rows, args.batch)
        finally:
            if owner is not None:
                owner.terminate()
                owner.wait(timeout=30)
        print(
            f"{kind:10s} raw {figures['raw_rows_s']:>9,} rows/s   sink {figures['sink_rows_s']:>9,} rows/s"
            f"   sink/raw {figures['sink_vs_raw']:.2f}"
        )
    shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
