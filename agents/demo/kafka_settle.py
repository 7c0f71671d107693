"""Wait until a Kafka run's ClickHouse record holds everything the workers announced: the sinks
write on Faust's offset commits and on a timer, so the last rows land a little after the last
message is done. The summary then reads a complete record."""

from __future__ import annotations

import time
from typing import Any

from agents.demo.kafka_totals import Consumed
from sinks.clickhouse.backend import ClickHouseBackend

SNAPSHOT_QUIET_S = 2.0  # longer than the sinks' flush interval (1 s by default)


def _want(consumed: Consumed, desks: list[dict[str, Any]]) -> dict[str, Any]:
    versions: dict[str, int] = {}
    for r in consumed.results:
        versions[r.client_order_id] = max(versions.get(r.client_order_id, -1), r.version)
    return {
        "signals": len(consumed.decisions),
        "orders": versions,
        "fills": set(consumed.fills()),
        "funding": sum(len(d.get("funding", [])) for d in desks),
    }


def _have(db: ClickHouseBackend) -> dict[str, Any]:
    (signals,) = db.query("SELECT uniqExact(signal_id) FROM signals").rows[0]
    orders = db.query("SELECT client_order_id, max(version) FROM orders GROUP BY client_order_id").rows
    # by the fills table's key, as Consumed.fills() (a venue numbers trades per instrument)
    fills = db.query("SELECT DISTINCT market, symbol, trade_id FROM fills").rows
    (funding,) = db.query("SELECT count() FROM funding_records FINAL").rows[0]
    return {
        "signals": int(signals),
        "orders": {str(c): int(v) for c, v in orders},
        "fills": {(str(m), str(s), str(t)) for m, s, t in fills},
        "funding": int(funding),
    }


def settle(
    db: ClickHouseBackend, consumed: Consumed, desks: list[dict[str, Any]], timeout_s: float = 120.0
) -> None:
    want = _want(consumed, desks)
    deadline = time.monotonic() + timeout_s
    while (have := _have(db)) != want:
        if time.monotonic() > deadline:
            missing = {k: (len(v) if isinstance(v, dict | set) else v, have[k]) for k, v in want.items()
                       if have[k] != v}  # fmt: skip
            raise TimeoutError(f"ClickHouse never caught up with the workers' outputs: {missing}")
        time.sleep(0.2)
    last = None
    while time.monotonic() < deadline:  # S6's snapshots: no announcement to count them by
        (n,) = db.query("SELECT count() FROM positions_snapshots").rows[0]
        if n == last:
            return
        last = n
        time.sleep(SNAPSHOT_QUIET_S)
