"""The market-data core of S1 (pure): records in, messages out, on a clock the caller passes.

``on_record`` takes one normalised record (a tick, a funding update, a malformed record) with the
time it was received on our clock (live) or None (replay: event time is the clock); ``on_timer``
is the live timer (closes a quiet symbol's batch, reports due metrics); ``finish`` flushes at the
end of input. Each returns the messages to send, in order.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from agents.connectors.marketdata import Malformed, MarketEvent, MicroBatcher
from agents.connectors.replay import dead_letter
from agents.connectors.service.align import Aligner
from agents.connectors.service.metrics import SERVICE, LatencyMeter, OutOfOrderMeter, ThroughputMeter
from agents.connectors.service.publish import (
    FundingGate,
    Message,
    TopicName,
    batch_messages,
    funding_message,
    metric_messages,
)
from chimera.settings import Settings
from topics.market import FundingEvent, MarketBatch
from topics.ops import MetricEvent

Record = MarketEvent | FundingEvent | Malformed


@dataclass(frozen=True, slots=True)
class ServiceConfig:
    """Knobs of the loop. Live wants a window of a few ms (DESIGN §1.7); a replay a larger one."""

    window_ms: int = 5
    max_ticks: int = 256
    levels: int = 5
    tolerance_ms: int = 50  # a tick at most this much older than its symbol's last is re-stamped
    max_ahead_ms: int | None = 60_000  # live: a stamp this far past our clock is dropped
    timer_ms: int = 5  # live: how often quiet batches are closed
    close_grace_ms: int = 0  # live: close a window this long after its end on our clock
    metrics_interval_ms: int = 10_000
    funding_min_interval_ms: int = 60_000
    service: str = SERVICE

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: object) -> ServiceConfig:
        fields: dict[str, object] = {
            "window_ms": settings.mkt_batch_window_ms,
            "max_ticks": settings.mkt_batch_max_ticks,
            "levels": settings.mkt_book_levels,
        }
        fields.update(overrides)
        return cls(**fields)  # type: ignore[arg-type]


@dataclass(slots=True)
class CoreStats:
    ticks_in: int = 0
    ticks_out: int = 0
    batches: int = 0
    funding: int = 0
    dlq: int = 0
    restamped: int = 0
    dropped: int = 0
    metrics: int = 0
    malformed: list[Malformed] = field(default_factory=list)


class MarketDataCore:
    def __init__(self, config: ServiceConfig, topic: TopicName) -> None:
        self.config = config
        self.topic = topic
        self.batcher = MicroBatcher(config.window_ms, config.max_ticks, config.levels)
        self.aligner = Aligner(config.tolerance_ms, config.max_ahead_ms)
        self.funding = FundingGate(config.funding_min_interval_ms)
        interval, service = config.metrics_interval_ms, config.service
        self.throughput = ThroughputMeter(interval, service)
        self.latency = LatencyMeter(interval, service)
        self.out_of_order = OutOfOrderMeter(interval, service)
        self.stats = CoreStats()
        self.event_now = 0  # the latest event time seen: the replay's clock

    def on_record(
        self, record: Record, received_ms: int | None = None, lag_source: str | None = None
    ) -> list[Message]:
        """One record; ``lag_source`` names the stream for ``s1.ws_rtt`` (live sources only)."""
        if isinstance(record, Malformed):
            self.stats.dlq += 1
            self.stats.malformed.append(record)
            return [(self.topic(f"dlq.{record.topic}"), record.file, dead_letter(record))]
        self.event_now = max(self.event_now, record.ts)
        now = self.event_now if received_ms is None else received_ms
        out = self._metrics(now)
        if received_ms is not None and lag_source is not None:
            self.latency.sample("lag", lag_source, float(received_ms - record.ts), now)
        if isinstance(record, FundingEvent):
            if self.funding.admit(record):
                self.stats.funding += 1
                out.append(funding_message(record, self.topic))
            return out
        self.stats.ticks_in += 1
        verdict, ev = self.aligner.check(record, received_ms)
        if ev is None:
            self.stats.dropped += 1
            self.out_of_order.count(record.market, verdict, now)
            return out
        if verdict == "restamped":
            self.stats.restamped += 1
            self.out_of_order.count(record.market, verdict, now)
        out.extend(self._publish(self.batcher.add(ev, received_ms), now))  # live: closed on our clock
        return out

    def on_ping(self, source: str, rtt_ms: float, now_ms: int) -> list[Message]:
        out = self._metrics(now_ms)
        self.latency.sample("ping", source, rtt_ms, now_ms)
        return out

    def on_timer(self, now_ms: int) -> list[Message]:
        """Live: close the windows that ended by our clock, report the metrics that are due."""
        out = self._metrics(now_ms)
        due = self.batcher.close_due(now_ms - self.config.close_grace_ms, now_ms)
        out.extend(self._publish(due, now_ms))
        return out

    def finish(self, now_ms: int | None = None) -> list[Message]:
        """End of input: every open batch, then the metrics of the last (partial) window."""
        now = self.event_now if now_ms is None else now_ms
        out = self._publish(self.batcher.flush(now_ms), now)
        # report the open windows: time is moved to their end, the input is over
        end = max((m.windows.end or 0) for m in (self.throughput, self.latency, self.out_of_order))
        out.extend(self._metrics(max(now, end)))
        return out

    def _publish(self, batches: list[MarketBatch], now: int) -> list[Message]:
        for b in batches:
            self.throughput.count(b.market, len(b), now)
            self.stats.batches += 1
            self.stats.ticks_out += len(b)
        return batch_messages(batches, self.topic)

    def _metrics(self, now: int) -> list[Message]:
        events: list[MetricEvent] = [
            *self.throughput.due(now),
            *self.latency.due(now),
            *self.out_of_order.due(now),
        ]
        self.stats.metrics += len(events)
        return metric_messages(events, self.topic)
