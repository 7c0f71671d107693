"""Funding actually paid or received → ``funding_records`` (spec S1: 寫 DB 僅 funding 實收).

Rows are exact (Decimal, as the venue settled them) and written through the batching sink, so
writes are batched and idempotent twice over: the table is a ReplacingMergeTree on
``(symbol, funding_time)`` (a payment written twice is one row after a merge, or at once under
``FINAL``), and a re-sent batch carries the same insert token (dropped at once on chdb).

Sources: SimVenue's :class:`FundingPayment` (paper and replay). The Binance adapter has no
payment source yet: it reads funding *rates* (``funding_rate`` / ``funding_history``, public),
not the account's funding income (``GET /fapi/v1/income?incomeType=FUNDING_FEE``, ccxt
``fetch_funding_history``), so live funding is not recorded here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from agents.connectors.simvenue.funding import FundingPayment
from sinks.clickhouse.sink import BatchingSink, DeadLetter, TopicPartition

TABLE = "funding_records"
SCALE = Decimal("1e-12")  # the table's Decimal(38, 12)


def _at_scale(value: Decimal) -> Decimal:
    """A rate or mark at the column's scale. They are what the amount was computed from, not money
    moved, and a recording's float noise (freqtrade's XRP files hold a mark 0.9470000000000001 and
    a rate -0.0021933400000000002) would make the sink refuse the row: the payment would be
    missing from S7's ROI net of funding. The amount and the position quantity are never rounded
    here: beyond 12 places they are dead-lettered."""
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -12:
        return value.quantize(SCALE, rounding=ROUND_HALF_EVEN)
    return value


def payment_row(p: FundingPayment) -> dict[str, Any]:
    """One ``funding_records`` row; ``ts`` is the settlement's event time (a replay writes the
    same rows byte for byte)."""
    return {
        "symbol": p.symbol,
        "funding_time": p.funding_time,
        "rate": _at_scale(p.rate),
        "position_qty": p.position_qty,
        "mark_price": _at_scale(p.mark_price),
        "amount_usdt": p.amount,
        "ts": p.funding_time,
    }


@dataclass(frozen=True, slots=True)
class Recorded:
    rows: int  # rows written by this call (a re-sent batch counts; the engine drops or folds it)
    offsets: dict[TopicPartition, int]
    dead_letters: list[DeadLetter]  # rows that do not fit the table: the caller sends them on


def record_payments(
    sink: BatchingSink, payments: Iterable[FundingPayment], source: str = "simvenue"
) -> Recorded:
    """Batch the payments' rows and flush; return what was written and what was refused.

    The sink tracks rows by (topic, partition, offset) for Kafka commits and insert tokens; a venue
    is no topic, so the source is named ``<source>.funding`` on partition 0 and a payment's
    offset is its ``funding_time``: the same payments give the same batch, hence the same token.
    """
    topic = f"{source}.funding"
    written = sink.rows_written
    for p in payments:
        sink.add(payment_row(p), table=TABLE, topic=topic, partition=0, offset=p.funding_time)
    offsets = sink.flush()
    # a shared sink keeps the other writers' dead letters for them
    mine = [d for d in sink.dead_letters if (d.table, d.topic) == (TABLE, topic)]
    sink.dead_letters = [d for d in sink.dead_letters if (d.table, d.topic) != (TABLE, topic)]
    return Recorded(sink.rows_written - written, offsets, mine)
