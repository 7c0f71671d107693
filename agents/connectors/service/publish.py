"""What S1 publishes, and when (pure): the messages of batches, funding events and metrics.

A message is ``(physical topic, key, value)``, the shape of ``BulkProducer.send``. Topic names go
through a ``topic`` function (``Settings.topic``: the prefix of a backtest's topic set).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from topics.market import FundingEvent, MarketBatch, topic_for_market
from topics.ops import MetricEvent

Message = tuple[str, str, bytes]
Send = Callable[[str, str, bytes], None]
TopicName = Callable[[str], str]


def batch_messages(batches: Iterable[MarketBatch], topic: TopicName) -> list[Message]:
    """``mkt.spot`` / ``mkt.perp``, keyed by symbol (co-partitioned with the trading path)."""
    return [(topic(topic_for_market(b.market)), b.symbol, b.encode()) for b in batches]


def funding_message(ev: FundingEvent, topic: TopicName) -> Message:
    return topic("mkt.funding"), ev.symbol, ev.encode()


def metric_messages(events: Iterable[MetricEvent], topic: TopicName) -> list[Message]:
    """``metrics.events`` is keyed by service (DESIGN §3)."""
    return [(topic("metrics.events"), m.service, m.encode()) for m in events]


@dataclass(slots=True)
class _Last:
    funding_time: int
    rate: object
    published_ts: int


class FundingGate:
    """Decide which funding updates go to ``mkt.funding``.

    A recording has one event per settlement, all published. Binance's mark-price stream repeats
    the *predicted* rate of the next settlement every 1-3 s: S3 needs the next settlement and a
    rate that is not stale, not a message per second, so an update for the same settlement goes
    out only when its rate changed and ``min_interval_ms`` passed since the last one. An update
    for an older settlement than one already published is dropped (a reconnect's old frame).
    """

    def __init__(self, min_interval_ms: int = 60_000) -> None:
        self.min_interval_ms = min_interval_ms
        self.published = 0
        self.suppressed = 0
        self.stale = 0
        self._last: dict[str, _Last] = {}

    def admit(self, ev: FundingEvent) -> bool:
        last = self._last.get(ev.symbol)
        if last is not None:
            if ev.funding_time < last.funding_time:
                self.stale += 1
                return False
            same_slot = ev.funding_time == last.funding_time
            if same_slot and (ev.rate == last.rate or ev.ts - last.published_ts < self.min_interval_ms):
                self.suppressed += 1
                return False
        self._last[ev.symbol] = _Last(ev.funding_time, ev.rate, ev.ts)
        self.published += 1
        return True
