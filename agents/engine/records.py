"""The run's ClickHouse record: one batching sink, one writer per source, the rows each service
writes in production (S3 ``signals``, S4 ``orders`` / ``fills`` / ``strategy_events``, S6
``positions_snapshots``, S1 ``funding_records``).

The rows are built by the services' own row builders (agents/router/records.py,
agents/positions/records.py), which hold what they measured against at the tables' scale, as the
Kafka path writes them; nothing is rounded here.

No Kafka here, so the sink's (topic, partition, offset) bookkeeping is numbered per writer
(:class:`~agents.router.records.SinkRecords`); batches stay distinct and a re-sent batch keeps its
insert token. A row a table refuses is a bug in its writer: it is kept in ``dead_letters`` and the
run reports it, nothing is dropped silently.
"""

from __future__ import annotations

from collections.abc import Mapping
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

TABLES = ("signals", "orders", "fills", "positions_snapshots", "funding_records", "strategy_events")


class Recorder:
    def __init__(self, backend: ClickHouseBackend, batch_rows: int, flush_ms: int, salt: str) -> None:
        # the wall clock ages batches: event time would call every row of a fast replay "old"
        self.sink = BatchingSink(
            backend, LiveClock(), batch_rows=batch_rows, flush_ms=flush_ms, token_salt=salt
        )
        self.router = SinkRecords(self.sink, topic="ord.results")
        self._signals = SinkRecords(self.sink, topic="sig.events")
        self._positions = SinkRecords(self.sink, topic="pos.events")
        self._funding = SinkRecords(self.sink, topic="simvenue.funding")
        self.dead_letters: list[DeadLetter] = []

    def signal(self, row: Mapping[str, Any]) -> None:
        self._signals.add(SIGNALS_TABLE, row)

    def snapshot(self, row: Mapping[str, Any]) -> None:
        self._positions.add(SNAPSHOT_TABLE, row)

    def funding(self, payment: FundingPayment) -> None:
        self._funding.add(FUNDING_TABLE, payment_row(payment))

    def flush(self) -> None:
        """Write everything queued (end of run); raises SinkBackpressure if ClickHouse refuses."""
        self.sink.flush()
        self.dead_letters += self.sink.take_dead_letters()

    @property
    def rows_written(self) -> int:
        return self.sink.rows_written
