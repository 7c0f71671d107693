"""S4's rows for ClickHouse: ``orders`` (every state change), ``fills`` (every trade, with the mid and
book at send and the slippage), ``strategy_events`` (TP_SL_PLACED, CANCEL, GUARD_TRIGGERED).

Columns follow ``infra/ddl/0001_trading.sql``; a value the record has no NULL for is written as
the column's empty value (0, "", []), and ``fills.slippage_bps`` as NaN when no mid was known.
What an order or fill was measured against (the average price, the mid and book at send) is held
at the columns' 12 places (:mod:`sinks.clickhouse.scale`): a recording's float noise would make the
sink refuse the row. The prices and quantities that moved are written as the venue gave them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Protocol

from agents.router.messages import Record
from sinks.clickhouse.scale import all_at_scale, at_scale
from sinks.clickhouse.sink import BatchingSink
from topics.trading import OrderResult

ZERO = Decimal(0)


def order_row(r: OrderResult) -> dict[str, Any]:
    return {
        "client_order_id": r.client_order_id,
        "version": r.version,
        "intent_id": r.intent_id,
        "signal_id": r.signal_id or "",
        "exchange_order_id": r.order_id or "",
        "symbol": r.symbol,
        "market": r.market.value,
        "side": r.side.value,
        "order_type": r.type.value,
        "time_in_force": r.time_in_force.value if r.time_in_force else "",
        "reduce_only": int(r.reduce_only),
        "status": r.status.value,
        "price": r.price or ZERO,
        "stop_price": r.stop_price or ZERO,
        "qty": r.qty or ZERO,
        "filled_qty": r.filled_qty,
        "avg_price": at_scale(r.avg_price) if r.avg_price else ZERO,
        "reason": r.reason or "",
        "ts": r.ts,
    }


def fill_rows(r: OrderResult) -> list[dict[str, Any]]:
    book = r.book_at_send
    return [
        {
            "trade_id": f.trade_id,
            "client_order_id": r.client_order_id,
            "intent_id": r.intent_id,
            "symbol": r.symbol,
            "market": r.market.value,
            "side": r.side.value,
            "price": f.price,
            "qty": f.qty,
            "fee": f.fee,
            "fee_asset": f.fee_asset,
            "is_maker": int(f.is_maker),
            "mid_at_send": at_scale(r.mid_at_send) if r.mid_at_send else ZERO,
            "top3_bid_px": all_at_scale(book.bid_px[:3]) if book else [],
            "top3_bid_qty": all_at_scale(book.bid_qty[:3]) if book else [],
            "top3_ask_px": all_at_scale(book.ask_px[:3]) if book else [],
            "top3_ask_qty": all_at_scale(book.ask_qty[:3]) if book else [],
            "slippage_bps": math.nan if f.slippage_bps is None else f.slippage_bps,
            "ts": f.ts,
        }
        for f in r.fills
    ]


def event_row(e: Record) -> dict[str, Any]:
    return {
        "event_id": e.event_id,
        "kind": e.kind,
        "symbol": e.symbol,
        "pos_id": e.pos_id or "",
        "intent_id": e.intent_id,
        "signal_id": e.signal_id or "",
        "payload": json.dumps(dict(e.payload), sort_keys=True, separators=(",", ":")),
        "ts": e.ts,
    }


class RecordSink(Protocol):
    def add(self, table: str, row: Mapping[str, Any]) -> None: ...


class ListRecords:
    """Rows kept in memory (unit tests, the bench)."""

    def __init__(self) -> None:
        self.rows: dict[str, list[Mapping[str, Any]]] = {}

    def add(self, table: str, row: Mapping[str, Any]) -> None:
        self.rows.setdefault(table, []).append(row)


class SinkRecords:
    """Rows into a :class:`BatchingSink`. The sink's offsets are Kafka bookkeeping; the router's
    rows are numbered by this writer, so batches stay distinct and a re-sent batch collapses."""

    def __init__(self, sink: BatchingSink, topic: str = "ord.results", partition: int = 0) -> None:
        self.sink = sink
        self.topic = topic
        self.partition = partition
        self._offset = 0

    def add(self, table: str, row: Mapping[str, Any]) -> None:
        self.sink.add(row, table=table, topic=self.topic, partition=self.partition, offset=self._offset)
        self._offset += 1
