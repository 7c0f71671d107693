"""The run's ClickHouse record: one batching sink, one writer per source, the rows each service
writes in production (S3 ``signals``, S4 ``orders`` / ``fills`` / ``strategy_events``, S6
``positions_snapshots``, S1 ``funding_records``).

Reference prices are held at the tables' scale (Decimal(38, 12)) before they are written, as S1's
funding writer does: freqtrade's XRP files carry float noise (a close of 1.0937000000000001), which
reaches S4's ``mid_at_send`` / top-3 book and S6's ``mark_price`` unchanged, and the sink would
refuse those rows (measured: two XRP fills and most XRP snapshots lost). Only prices we measured
against are rounded; money that moved (fill price, qty, fee, PnL) is never touched, so a writer's
real mistake still shows as a dead letter. The writers themselves (agents/router, agents/positions)
should do this; until they do, it is done here.

No Kafka here, so the sink's (topic, partition, offset) bookkeeping is numbered per writer
(:class:`~agents.router.records.SinkRecords`); batches stay distinct and a re-sent batch keeps its
insert token. A row a table refuses is a bug in its writer: it is kept in ``dead_letters`` and the
run reports it, nothing is dropped silently.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from agents.connectors.service.funding_records import TABLE as FUNDING_TABLE
from agents.connectors.service.funding_records import payment_row
from agents.connectors.simvenue import FundingPayment
from agents.positions.records import SNAPSHOT_TABLE
from agents.router.records import SinkRecords
from agents.strategy.signals import TABLE as SIGNALS_TABLE
from chimera.model import LiveClock
from sinks.clickhouse.backend import ClickHouseBackend
from sinks.clickhouse.sink import BatchingSink, DeadLetter

SCALE = Decimal("1e-12")
# reference prices per table: what a fill or a position was measured against, not money moved
REFERENCE = {
    "fills": ("mid_at_send", "top3_bid_px", "top3_ask_px"),
    "orders": ("avg_price",),
    "positions_snapshots": ("mark_price", "entry_price"),
}
TABLES = ("signals", "orders", "fills", "positions_snapshots", "funding_records", "strategy_events")


def at_scale(value: Any) -> Any:
    if isinstance(value, list):
        return [at_scale(v) for v in value]
    if isinstance(value, Decimal):
        exponent = value.as_tuple().exponent
        if isinstance(exponent, int) and exponent < -12:
            return value.quantize(SCALE, rounding=ROUND_HALF_EVEN)
    return value


def scaled(table: str, row: Mapping[str, Any]) -> Mapping[str, Any]:
    cols = REFERENCE.get(table, ())
    if not any(c in row for c in cols):
        return row
    return {k: at_scale(v) if k in cols else v for k, v in row.items()}


class ScaledRecords:
    """S4's record sink with its reference prices held at the column scale."""

    def __init__(self, inner: SinkRecords) -> None:
        self.inner = inner

    def add(self, table: str, row: Mapping[str, Any]) -> None:
        self.inner.add(table, scaled(table, row))


class Recorder:
    def __init__(self, backend: ClickHouseBackend, batch_rows: int, flush_ms: int, salt: str) -> None:
        # the wall clock ages batches: event time would call every row of a fast replay "old"
        self.sink = BatchingSink(
            backend, LiveClock(), batch_rows=batch_rows, flush_ms=flush_ms, token_salt=salt
        )
        self.router = ScaledRecords(SinkRecords(self.sink, topic="ord.results"))
        self._signals = SinkRecords(self.sink, topic="sig.events")
        self._positions = SinkRecords(self.sink, topic="pos.events")
        self._funding = SinkRecords(self.sink, topic="simvenue.funding")
        self.dead_letters: list[DeadLetter] = []

    def signal(self, row: Mapping[str, Any]) -> None:
        self._signals.add(SIGNALS_TABLE, row)

    def snapshot(self, row: Mapping[str, Any]) -> None:
        self._positions.add(SNAPSHOT_TABLE, scaled(SNAPSHOT_TABLE, row))

    def funding(self, payment: FundingPayment) -> None:
        self._funding.add(FUNDING_TABLE, payment_row(payment))

    def flush(self) -> None:
        """Write everything queued (end of run); raises SinkBackpressure if ClickHouse refuses."""
        self.sink.flush()
        self.dead_letters += self.sink.take_dead_letters()

    @property
    def rows_written(self) -> int:
        return self.sink.rows_written
