"""treasury_transfers in ClickHouse: one row per state change, through the batching sink.

Rows of one request are batched and written together at its end, except that a SUBMITTED row is
written *before* the venue is called: it is what tells a restarted service (or an operator) that
money may have moved, even if Redis lost the idempotency record. ``latest`` reads a transfer's
newest version for exactly that check. The sink and the backends are synchronous and the sink
is not thread-safe: calls run in a worker thread, one at a time.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from agents.connectors.treasury.errors import RecordUnavailable
from agents.connectors.treasury.machine import Transfer
from sinks.clickhouse.backend import ClickHouseError, quote_string
from sinks.clickhouse.sink import BatchingSink, SinkBackpressure

TABLE = "treasury_transfers"
# the sink batches per (table, topic, partition) and names batches by offsets: this service has
# no topic, so its rows form one stream with offsets counted here
STREAM = "s1.treasury"

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class JournalRow:
    """The newest recorded version of a transfer."""

    transfer_id: str
    version: int
    status: str
    from_account: str
    to_account: str
    asset: str
    amount: Decimal
    reason: str

    def same_transfer(self, from_account: str, to_account: str, asset: str, amount: Decimal) -> bool:
        return (self.from_account, self.to_account, self.asset, self.amount) == (
            from_account,
            to_account,
            asset,
            amount,
        )


def row_of(t: Transfer) -> dict[str, Any]:
    o = t.order
    return {
        "transfer_id": o.transfer_id,
        "version": t.version,
        "status": str(t.status),
        "from_account": str(o.from_account),
        "to_account": str(o.to_account),
        "asset": o.asset,
        "amount": o.amount,
        "reason": t.reason,
        "requested_by": o.requested_by,
        "approved_by": o.approved_by,
        "venue_transfer_id": t.venue_transfer_id,
        "created_ts": t.created_ts,
        "ts": t.ts,
    }


class TransferJournal:
    def __init__(self, sink: BatchingSink, first_offset: int = 0) -> None:
        self._sink = sink
        self._offset = first_offset
        self._lock = asyncio.Lock()

    async def add(self, t: Transfer) -> None:
        async with self._lock:
            offset, self._offset = self._offset, self._offset + 1
            await asyncio.to_thread(self._add, row_of(t), offset)

    def _add(self, row: dict[str, Any], offset: int) -> None:
        try:
            self._sink.add(row, table=TABLE, topic=STREAM, partition=0, offset=offset)
        except (SinkBackpressure, ClickHouseError) as exc:
            raise RecordUnavailable(f"{TABLE}: {exc}") from exc
        bad = self._sink.take_dead_letters()
        if bad:  # our own row does not fit the table: a bug, never to be hidden in a list
            raise RecordUnavailable(f"{TABLE}: row refused: {bad[0].error}")

    async def flush(self) -> None:
        """Write every pending row; RecordUnavailable if ClickHouse refused (rows kept for a retry)."""
        async with self._lock:
            try:
                await asyncio.to_thread(self._sink.flush)
            except (SinkBackpressure, ClickHouseError) as exc:
                raise RecordUnavailable(f"{TABLE}: {exc}") from exc

    def pending_rows(self) -> int:
        return self._sink.pending_rows()

    async def latest(self, transfer_id: str) -> JournalRow | None:
        sql = (
            "SELECT transfer_id, version, status, from_account, to_account, asset, amount, reason "
            f"FROM {TABLE} WHERE transfer_id = {quote_string(transfer_id)} ORDER BY version DESC LIMIT 1"
        )
        try:
            async with self._lock:  # one connection: a native-protocol client is not thread-safe
                res = await asyncio.to_thread(self._sink.backend.query, sql)
        except ClickHouseError as exc:
            raise RecordUnavailable(f"{TABLE}: cannot read {transfer_id}: {exc}") from exc
        if not res.rows:
            return None
        tid, version, status, src, dst, asset, amount, reason = res.rows[0]
        return JournalRow(
            str(tid), int(version), str(status), str(src), str(dst), str(asset), Decimal(amount), str(reason)
        )
