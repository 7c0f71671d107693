"""A Kafka demo run's own count of what happened, from what the workers published (``sig.events``,
``ord.results``, ``pos.events``) and the paper venue's books (the router desk's view), never from
ClickHouse: the summary checks the record against these, as it does against the engine's totals.

Every topic is read at least once: a record delivered twice (a retry, a rebalance) counts once,
by its own key (decision: ``signal_id``; fill: ``market, symbol, trade_id``; position event: ``pos_id, seq``).
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from confluent_kafka import Consumer, KafkaException, TopicPartition

from agents.demo.runner import Totals
from topics.trading import Decision, OrderResult, PositionEvent

FETCH_WAIT_MS = 5  # Tansu answers a fetch only when the wait expires (DESIGN §2)
QUIET_S = 0.3


class TopicTail:
    """Reads a topic from its start, across calls, with a consumer of no group of its own."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.topic = topic
        self._consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": f"demo-read-{uuid.uuid4().hex[:8]}",
                "enable.auto.commit": False,
                "fetch.wait.max.ms": FETCH_WAIT_MS,
            }
        )
        meta = self._consumer.list_topics(topic, timeout=10).topics[topic]
        if meta.error is not None:
            self._consumer.close()
            raise KafkaException(meta.error)
        self._parts = [TopicPartition(topic, p, 0) for p in sorted(meta.partitions)]
        self._consumer.assign(self._parts)
        self._at = {p.partition: 0 for p in self._parts}

    def read_new(self, quiet_s: float = QUIET_S, timeout_s: float = 60.0) -> list[bytes]:
        """The records since the last call: to each partition's high watermark, then until a poll
        of ``quiet_s`` brings nothing (Tansu can report a partition's end short of its last record)."""
        ends = {p.partition: self._consumer.get_watermark_offsets(p, timeout=10)[1] for p in self._parts}
        out: list[bytes] = []
        deadline = time.monotonic() + timeout_s
        while True:
            behind = any(self._at[p] < ends[p] for p in ends)
            msgs = self._consumer.consume(1_000, timeout=0.05 if behind else quiet_s)
            for m in msgs:
                if m.error() is not None:
                    raise KafkaException(m.error())
                out.append(m.value() or b"")
                partition, offset = m.partition(), m.offset()
                assert partition is not None and offset is not None
                self._at[partition] = offset + 1
            if not msgs and not behind:
                return out
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{self.topic}: not read to its end in {timeout_s:.0f} s ({self._at} of {ends})"
                )

    def close(self) -> None:
        self._consumer.close()


def read_topic(bootstrap: str, topic: str) -> list[bytes]:
    """Every record of ``topic`` now."""
    tail = TopicTail(bootstrap, topic)
    try:
        return tail.read_new()
    finally:
        tail.close()


@dataclass
class Consumed:
    """The run's outputs, each once."""

    decisions: dict[str, Decision] = field(default_factory=dict)  # by signal_id
    results: list[OrderResult] = field(default_factory=list)  # every one, as published
    events: list[PositionEvent] = field(default_factory=list)  # (pos_id, seq) once, in time order

    @classmethod
    def read(cls, bootstrap: str, prefix: str) -> Consumed:
        out = cls()
        for raw in read_topic(bootstrap, f"{prefix}sig.events"):
            d = Decision.decode(raw)
            out.decisions.setdefault(d.signal_id, d)
        out.results = [OrderResult.decode(raw) for raw in read_topic(bootstrap, f"{prefix}ord.results")]
        seen: dict[tuple[str, int], PositionEvent] = {}
        for raw in read_topic(bootstrap, f"{prefix}pos.events"):
            e = PositionEvent.decode(raw)
            seen.setdefault((e.pos_id, e.seq), e)
        out.events = sorted(seen.values(), key=lambda e: (e.ts, e.pos_id, e.seq))
        return out

    def fills(self) -> dict[tuple[str, str, str], Any]:
        """Each fill once, by (market, symbol, trade_id), the ``fills`` table's key: a later
        version of an order repeats its earlier fills, and a venue numbers trades per instrument
        (two desks' venues both have a trade 1)."""
        got: dict[tuple[str, str, str], Any] = {}
        for r in self.results:
            for f in r.fills:
                got.setdefault((r.market.value, r.symbol, f.trade_id), f)
        return got

    def open_positions(self) -> list[PositionEvent]:
        """S6's positions still open: each position's latest event, if it is not an exit."""
        latest: dict[str, PositionEvent] = {}
        for e in self.events:
            latest[e.pos_id] = e
        return [e for e in latest.values() if e.kind != "EXIT" and e.qty > 0]


def wallet_change(desks: Iterable[dict[str, Any]], initial: Decimal) -> Decimal:
    """The paper venues' USDT (futures + spot wallets that trade), end minus start."""
    total = Decimal(0)
    for desk in desks:
        for wallet in desk["balances"].values():
            usdt = wallet.get("USDT")
            if usdt is not None:
                total += Decimal(usdt["total"]) - initial
    return total


def totals_of(
    consumed: Consumed,
    desks: list[dict[str, Any]],
    initial: Decimal,
    funding: Decimal,
    gate: tuple[Decimal, int],
    end_of_run_closes: int,
    dead_letters: int,
    malformed: int,
) -> Totals:
    fills = consumed.fills()
    last_pnl: dict[str, Decimal] = {}
    for e in consumed.events:
        last_pnl[e.pos_id] = e.realized_pnl
    return Totals(
        decisions=Counter(d.reason for d in consumed.decisions.values()),
        orders=len({r.client_order_id for r in consumed.results}),
        fills=len(fills),
        fees=sum((f.fee for f in fills.values()), Decimal(0)),
        funding=funding,
        realized=sum(last_pnl.values(), Decimal(0)),
        trades=sum(1 for e in consumed.events if e.kind == "EXIT"),
        open_positions=sum(len(d["positions"]) for d in desks),
        wallet_change=wallet_change(desks, initial),
        gate_budget_inuse=gate[0],
        gate_slots_inuse=gate[1],
        end_of_run_closes=end_of_run_closes,
        dead_letters=dead_letters,
        malformed=malformed,
    )
