"""The batching sink on chdb and clickhouse-server: size/age/checkpoint flushes, safe offsets,
crash-and-replay without duplicates, dead letters, and a failing insert kept for retry."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from chimera.model.clock import TestClock
from sinks.clickhouse.backend import ClickHouseBackend
from sinks.clickhouse.dialect import dialect_of
from sinks.clickhouse.sink import BatchingSink, SinkBackpressure

Rows = Callable[..., list[dict[str, Any]]]
MakeSink = Callable[..., tuple[BatchingSink, TestClock]]


def _count(conn: ClickHouseBackend, table: str, symbol: str, final: bool = True) -> int:
    sql = f"SELECT count() FROM {table} {'FINAL' if final else ''} WHERE symbol = '{symbol}'"
    return int(conn.query(sql).rows[0][0])


def test_flush_on_size_and_safe_offsets(
    backend: ClickHouseBackend, make_sink: MakeSink, fill_rows: Rows, unique_name: str
) -> None:
    sink, _ = make_sink(backend, batch_rows=10, flush_ms=60_000)
    for offset, row in enumerate(fill_rows(unique_name, 25)):
        sink.add(row, table="fills", topic="ord.results", partition=3, offset=100 + offset)

    assert _count(backend, "fills", unique_name) == 20  # two full batches written, 5 rows pending
    assert sink.pending_rows() == 5
    assert sink.safe_offsets() == {("ord.results", 3): 119}  # 120.. are not in ClickHouse yet
    assert sink.flush() == {("ord.results", 3): 124}
    assert _count(backend, "fills", unique_name) == 25


def test_safe_offset_waits_for_every_table_of_the_partition(
    backend: ClickHouseBackend, make_sink: MakeSink, fill_rows: Rows, unique_name: str
) -> None:
    sink, _ = make_sink(backend, batch_rows=3, flush_ms=60_000)
    fills = fill_rows(unique_name, 3)
    event = {"event_id": f"e-{unique_name}", "kind": "TP_SL_PLACED", "symbol": unique_name, "pos_id": "p1",
             "intent_id": "i1", "signal_id": "s1", "payload": '{"sl": "63000.5"}', "ts": 5}  # fmt: skip
    sink.add(event, table="strategy_events", topic="ord.results", partition=0, offset=10)
    for offset, row in enumerate(fills, start=11):
        sink.add(row, table="fills", topic="ord.results", partition=0, offset=offset)

    assert _count(backend, "fills", unique_name) == 3  # full batch written
    assert sink.safe_offsets() == {("ord.results", 0): 9}  # offset 10's event is still pending
    assert sink.flush() == {("ord.results", 0): 13}
    assert _count(backend, "strategy_events", unique_name) == 1


def test_flush_on_age_with_the_event_clock(
    backend: ClickHouseBackend, make_sink: MakeSink, fill_rows: Rows, unique_name: str
) -> None:
    sink, clock = make_sink(backend, batch_rows=1_000, flush_ms=500)
    rows = fill_rows(unique_name, 3)
    sink.add(rows[0], table="fills", topic="t", partition=0, offset=0)
    clock.advance(499)
    sink.add(rows[1], table="fills", topic="t", partition=0, offset=1)
    assert sink.flush_due() == {}  # 499 ms old: not yet
    assert _count(backend, "fills", unique_name) == 0

    clock.advance(1)
    assert sink.flush_due() == {("t", 0): 1}
    assert _count(backend, "fills", unique_name) == 2

    sink.add(rows[2], table="fills", topic="t", partition=0, offset=2)  # a new batch, new age
    clock.advance(500)
    sink.add(fill_rows(unique_name, 1, start=3)[0], table="fills", topic="t", partition=0, offset=3)
    assert _count(backend, "fills", unique_name) == 4  # the add itself flushed the aged batch


def test_replay_after_crash_leaves_no_duplicate(
    backend: ClickHouseBackend, make_sink: MakeSink, fill_rows: Rows, unique_name: str
) -> None:
    rows = fill_rows(unique_name, 40)
    first, _ = make_sink(backend, batch_rows=20, flush_ms=60_000)
    for offset, row in enumerate(rows):
        first.add(row, table="fills", topic="ord.results", partition=1, offset=offset)
    # the worker dies after the inserts, before committing offsets: a new one replays from 0
    second, _ = make_sink(backend, batch_rows=20, flush_ms=60_000)
    for offset, row in enumerate(rows):
        second.add(row, table="fills", topic="ord.results", partition=1, offset=offset)
    second.flush()

    assert _count(backend, "fills", unique_name) == 40
    if dialect_of(backend).dedup_token:
        assert _count(backend, "fills", unique_name, final=False) == 40  # tokens dropped the replays


def test_restarted_offsets_with_new_rows_are_kept(
    backend: ClickHouseBackend, make_sink: MakeSink, fill_rows: Rows, unique_name: str
) -> None:
    """A broker restarted with memory storage (embedded Tansu) numbers offsets from 0 again: the same
    offsets now carry other rows, which the insert tokens must not drop."""
    for run in range(2):
        sink, _ = make_sink(backend, batch_rows=10)
        for offset, row in enumerate(fill_rows(unique_name, 10, start=run * 10)):
            sink.add(row, table="fills", topic="ord.results", partition=0, offset=offset)
        sink.flush()
    assert _count(backend, "fills", unique_name) == 20
    assert _count(backend, "fills", unique_name, final=False) == 20


def test_bad_row_is_dead_lettered_and_the_batch_goes_on(
    backend: ClickHouseBackend, make_sink: MakeSink, fill_rows: Rows, unique_name: str
) -> None:
    sink, _ = make_sink(backend, batch_rows=100)
    good = fill_rows(unique_name, 3)
    float_money = {**good[1], "trade_id": "bad1", "price": 64000.5}
    unknown = {**good[1], "trade_id": "bad2", "venue": "binance"}
    missing = {k: v for k, v in good[1].items() if k != "fee"}
    for offset, row in enumerate([good[0], float_money, unknown, missing, good[1], good[2]]):
        sink.add(row, table="fills", topic="t", partition=0, offset=offset)
    assert sink.flush() == {("t", 0): 5}

    assert _count(backend, "fills", unique_name) == 3
    assert [(d.offset, d.table) for d in sink.dead_letters] == [(1, "fills"), (2, "fills"), (3, "fills")]
    errors = [d.error for d in sink.dead_letters]
    assert "fills.price (Decimal(38, 12)): a float (64000.5) is not accepted for money" in errors[0]
    assert errors[1] == "fills: unknown column(s) venue"
    assert errors[2] == "fills: missing column(s) fee"
    assert len(sink.take_dead_letters()) == 3 and sink.dead_letters == []


def test_failed_insert_keeps_the_batch_for_retry(
    backend: ClickHouseBackend, make_sink: MakeSink, unique_name: str
) -> None:
    table = f"sink_probe_{unique_name[-8:]}"
    ddl = f"CREATE TABLE {table} (symbol String, n UInt32) ENGINE = ReplacingMergeTree() ORDER BY n"
    backend.execute(ddl)
    sink, clock = make_sink(backend, batch_rows=100, flush_ms=1_000, retry_after_ms=5_000)
    sink.add({"symbol": "x", "n": 1}, table=table, topic="t", partition=0, offset=7)
    backend.execute(f"DROP TABLE {table}")  # the store goes away under the sink

    with pytest.raises(SinkBackpressure) as info:
        sink.flush()
    assert info.value.failures[0][:2] == (table, ("t", 0))
    assert sink.pending_rows() == 1
    assert sink.safe_offsets() == {("t", 0): 6}  # offset 7 must not be committed

    sink.add({"symbol": "x", "n": 2}, table=table, topic="t", partition=0, offset=8)  # behind the kept one
    clock.advance(2_000)
    sink.flush_due()  # the frozen batch waits out retry_after_ms; the new one is queued behind it
    assert sink.pending_rows() == 2

    backend.execute(ddl)  # the store is back
    assert sink.flush() == {("t", 0): 8}
    assert backend.query(f"SELECT n FROM {table} ORDER BY n").rows == [(1,), (2,)]
    backend.execute(f"DROP TABLE {table}")


def test_pending_limit_refuses_rows(backend: ClickHouseBackend, make_sink: MakeSink, fill_rows: Rows) -> None:
    sink, _ = make_sink(backend, batch_rows=1_000, flush_ms=60_000, max_pending_rows=2)
    rows = fill_rows("limit", 3)
    sink.add(rows[0], table="fills", topic="t", partition=0, offset=0)
    sink.add(rows[1], table="fills", topic="t", partition=0, offset=1)
    with pytest.raises(SinkBackpressure, match="2 rows pending"):
        sink.add(rows[2], table="fills", topic="t", partition=0, offset=2)
    assert sink.pending_rows() == 2 and sink.safe_offsets() == {}


def test_offsets_of_rowless_messages_are_safe(backend: ClickHouseBackend, make_sink: MakeSink) -> None:
    sink, _ = make_sink(backend)
    sink.advance("sig.events", 2, 41)
    assert sink.flush() == {("sig.events", 2): 41}


def test_missing_table_raises_instead_of_dead_lettering(
    backend: ClickHouseBackend, make_sink: MakeSink
) -> None:
    sink, _ = make_sink(backend)
    with pytest.raises(Exception, match=r"no_such_table does not exist \(run `chimera db migrate`\)"):
        sink.add({"a": 1}, table="no_such_table", topic="t", partition=0, offset=0)
    assert sink.dead_letters == []
