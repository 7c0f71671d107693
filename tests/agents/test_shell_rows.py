"""The agents' row queue (``agents.shell.RowQueue``) on clickhouse-server: while ClickHouse refuses
the rows the stream is held, not the rows dropped, and once it takes them again every row is
written once; a row its table refuses is logged with the table and the rest go on."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from agents.shell import RowQueue
from chimera.model import TestClock
from sinks.clickhouse.migrate import migrate
from sinks.clickhouse.server_backend import ServerBackend
from sinks.clickhouse.sink import BatchingSink

pytestmark = pytest.mark.clickhouse
TABLE = "positions_snapshots"


@pytest.fixture
def ch(clickhouse_url: str) -> Iterator[ServerBackend]:
    conn = ServerBackend(clickhouse_url, f"t_shell_{uuid.uuid4().hex[:10]}")
    migrate(conn)
    yield conn
    conn.execute(f"DROP DATABASE IF EXISTS {conn.database}")
    conn.close()


def snapshot(seq: int, mark: Any = "1.5") -> dict[str, Any]:
    return {
        "pos_id": "pos-rows", "seq": seq, "symbol": "XRPUSDT", "market": "FUT", "side": "BUY",
        "status": "OPEN", "qty": Decimal("10"), "entry_price": Decimal("1.4"), "mark_price": mark,
        "margin": Decimal("4.6"), "unrealized_pnl": Decimal("1"), "realized_pnl": Decimal(0),
        "fees_paid": Decimal(0), "funding_paid": Decimal(0), "sl_price": Decimal("1.3"), "tp_level": 0,
        "adds": 0, "ts": 1_000 + seq,
    }  # fmt: skip


def seqs(ch: ServerBackend) -> list[int]:
    rows = ch.query(f"SELECT seq FROM {TABLE} WHERE pos_id = 'pos-rows' ORDER BY seq").rows
    return [int(r[0]) for r in rows]


async def test_the_stream_is_held_while_clickhouse_refuses_and_every_row_lands_once(
    ch: ServerBackend,
) -> None:
    # two rows may wait unwritten; the third add must see them written first
    sink = BatchingSink(ch, TestClock(0), batch_rows=100, flush_ms=10**12, max_pending_rows=2,
                        retry_after_ms=10)  # fmt: skip
    emptied: list[int] = []
    rows = RowQueue(sink, "test rows", on_empty=lambda: emptied.append(sink.pending_rows()))
    sink.schema(TABLE)  # the sink knows the table (a worker has written to it before)
    ch.execute(f"RENAME TABLE {TABLE} TO {TABLE}_away")  # ClickHouse refuses every insert now
    adding = asyncio.create_task(rows.add([(TABLE, snapshot(i)) for i in range(5)], "pos.t", 0, 7))
    for _ in range(3_000):
        if rows.flush_failures >= 3 or adding.done():
            break
        await asyncio.sleep(0.01)
    assert not adding.done() and sink.pending_rows() == 2  # held, not dropped, not grown
    ch.execute(f"RENAME TABLE {TABLE}_away TO {TABLE}")
    await asyncio.wait_for(adding, 30)
    assert rows.flush(force=True) and emptied and emptied[-1] == 0
    assert seqs(ch) == [0, 1, 2, 3, 4]


async def test_a_row_the_table_refuses_is_logged_and_the_others_are_written(
    ch: ServerBackend, caplog: pytest.LogCaptureFixture
) -> None:
    sink = BatchingSink(ch, TestClock(0), batch_rows=100, flush_ms=10**12)
    rows = RowQueue(sink, "test rows")
    bad = snapshot(1, mark=1.5)  # a float for money: refused by the schema
    with caplog.at_level(logging.ERROR, logger="agents.shell"):
        await rows.add([(TABLE, snapshot(0)), (TABLE, bad), (TABLE, snapshot(2))], "pos.t", 0, 3)
    assert rows.flush(force=True)
    assert seqs(ch) == [0, 2]
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert "refused by positions_snapshots" in record.getMessage()
    assert "mark_price" in record.getMessage() and "float" in record.getMessage()
