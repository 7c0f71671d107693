"""The same input gives the same run, byte for byte: decisions, intents, orders, fills and position
events (ids included) and the rows in ClickHouse — from two runs with their own keyspaces and
databases, and from a third on the 3-master Redis Cluster."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import RunFactory
from engine_kit import btc, bundle, dumps, xrp, xrp_bundle

from sinks.clickhouse.backend import ClickHouseBackend
from sinks.redis import RedisClient

# each table in a total order, every column (the ids are the keys)
TABLES = {
    "signals": "signal_id",
    "orders": "client_order_id, version",
    "fills": "market, symbol, trade_id",
    "positions_snapshots": "pos_id, seq",
    "funding_records": "symbol, funding_time",
    "strategy_events": "event_id",
}


def table_rows(db: ClickHouseBackend) -> dict[str, list[tuple[Any, ...]]]:
    return {t: db.query(f"SELECT * FROM {t} FINAL ORDER BY {key}").rows for t, key in TABLES.items()}


def published(run: Any) -> dict[str, list[str]]:
    r = run.result
    return {
        "decisions": dumps(r.decisions),
        "intents": dumps(r.intents),
        "orders": dumps(r.orders),
        "position_events": dumps(r.position_events),
        "fills": [f"{res.client_order_id} {f.model_dump_json()}" for res, f in r.fills],
    }


@pytest.mark.redis_cluster
async def test_two_runs_of_the_same_input_are_identical(run: RunFactory, cluster: RedisClient) -> None:
    records, b = btc(days=1), bundle()
    first = await run(records, b, regime="NORMAL")
    second = await run(records, b, regime="NORMAL")
    on_cluster = await run(records, b, client=cluster, regime="NORMAL")

    assert first.cfg.key_prefix != second.cfg.key_prefix != on_cluster.cfg.key_prefix
    assert first.db.database != second.db.database
    a = published(first)
    assert len(a["decisions"]) == 1439  # one per closed 1-minute bar
    assert len(a["fills"]) > 50 and len(a["position_events"]) > 50  # something to compare
    assert published(second) == a
    assert published(on_cluster) == a
    rows = table_rows(first.db)
    assert {t: len(v) for t, v in rows.items()}["signals"] == 1439
    assert table_rows(second.db) == rows
    assert table_rows(on_cluster.db) == rows
    # the ids are derived from the inputs, not from the run: nothing of the run id leaks into them
    assert first.cfg.run_id not in "".join(a["orders"] + a["decisions"])


async def test_s2_once_per_bar_decides_exactly_as_s2_once_per_batch(run: RunFactory) -> None:
    """The coalesced S2 (engine/coalesce.py) against every micro-batch handed over on its own: the
    BTC bars, and the XRP week whose batches mix bar ticks with mark ticks."""
    for records, b in ((btc(days=0.5), bundle()), (xrp(), xrp_bundle())):
        per_bar = await run(records, b, regime="NORMAL")
        per_batch = await run(records, b, regime="NORMAL", coalesce_s2=False)
        assert per_bar.result.counts.features == per_batch.result.counts.features > 700
        assert published(per_bar) == published(per_batch)
