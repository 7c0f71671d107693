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
from typing import Any

from agents.connectors.simvenue.funding import FundingPayment
from sinks.clickhouse.sink import BatchingSink, TopicPartition

TABLE = "funding_records"


def payment_row(p: FundingPayment) -> dict[str, Any]:
    """One ``funding_records`` row; ``ts`` is the settlement's event time (a replay writes the
    same rows byte for byte)."""
    return {
        "symbol": p.symbol,
        "funding_time": p.funding_time,
        "rate": p.rate,
        "position_qty": p.position_qty,
        "mark_price": p.mark_price,
        "amount_usdt": p.amount,
        "ts": p.funding_time,
    }


def record_payments(
    sink: BatchingSink, payments: Iterable[FundingPayment], source: str = "simvenue"
) -> dict[TopicPartition, int]:
    """Batch the payments' rows and flush; return the sink's safe offsets.

    The sink tracks rows by (topic, partition, offset) for Kafka commits and insert tokens; a venue
    is no topic, so the source is named ``<source>.funding`` on partition 0 and a payment's
    offset is its ``funding_time``: the same payments give the same batch, hence the same token.
    """
    topic = f"{source}.funding"
    for p in payments:
        sink.add(payment_row(p), table=TABLE, topic=topic, partition=0, offset=p.funding_time)
    return sink.flush()
