"""S2's shell: market batches in, one feature event per closed bar out on ``feat.events``.

A perpetual's batches are the symbol's own series (``step``); the same symbol's spot batches are the
reference ``rho`` is measured against (``step_reference``): both topics are keyed by symbol and
co-partitioned, so one worker holds both in one table entry. Feature events go to the input's
partition (same count, DESIGN §1.4), so S3 sees a symbol where S2 saw it whatever partitioner the
market producer used.

Batches are worked in windows: every batch the consumer has already handed over (up to
``WINDOW_BATCHES``), so a busy stream pays the broker round trip and the table write once per
window instead of once per batch, and an idle one flushes at once (no added latency). Per window:
fold each batch into the symbol's entry (kept here until the window closes), send its events
without waiting, then wait for every event's ack, then store each changed entry ONCE, then ack the
window's input records (the stream is ``noack``: Faust commits an offset only once we ack it).

So the order per batch stays: events acknowledged before the new state is stored, state stored
before the input offset can commit. A crash in between redelivers the batches and re-sends the same
events (same ``signal_id``); the reverse order could store a state whose events were never sent,
and the offset guard would then skip them for good.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import AsyncIterator
from typing import cast

from faust import Stream
from faust.types import EventT, StreamT
from pydantic import BaseModel

from agents.app import app
from agents.features.active import active_features
from agents.features.config import FeatureConfig
from agents.features.core import step_columns, step_reference
from agents.features.encode import encode_columns
from agents.features.regime_service import regime_scheduler  # noqa: F401  (runs the daily job)
from agents.features.send import BatchSender
from agents.features.tables import FeatureEntry, load, store
from agents.features.ticks import TickArrays, ticks_from_batch
from agents.shell import Delivery, Source
from topics.market import MarketBatch

log = logging.getLogger(__name__)

WINDOW_BATCHES = 512  # most input records worked before their events are awaited and states stored


# until S10's bundles (cfg.events) carry it
CONFIG = FeatureConfig()


def current_config() -> FeatureConfig:
    """The active bundle's parameters (agents/features/active.py), else the built-in default."""
    return active_features.config or CONFIG


def to_ticks(batch: BaseModel) -> TickArrays:
    """The core's input; ValueError (to the DLQ) for values the core refuses, e.g. a negative price."""
    assert isinstance(batch, MarketBatch)
    return ticks_from_batch(batch, current_config().depth_levels)


def skipped(d: Delivery[TickArrays]) -> None:
    # said once per partition: after a crash it is expected, but it is also what a topic recreated
    # under an old changelog would look like (every batch skipped)
    redelivered[(d.topic, d.partition)] += 1
    if redelivered[(d.topic, d.partition)] == 1:
        log.warning(
            "skipping batches already in the table: %s[%d] from offset %d", d.topic, d.partition, d.offset
        )


source = Source(app, ("mkt.perp", "mkt.spot"), convert=to_ticks, service="features")
redelivered: Counter[tuple[str, int]] = Counter()
feat_events = app.output_topic("feat.events")  # provisioned with the others; sent by BatchSender
windows: Counter[str] = Counter()  # "windows" / "records": how well the windows fill


class Window:
    """What a window has done so far: entries changed and events queued, under one config."""

    def __init__(self, cfg: FeatureConfig) -> None:
        self.cfg = cfg  # one bundle per window: a reload lands between windows
        self.entries: dict[str, tuple[FeatureEntry, int]] = {}  # symbol -> (entry, partition)
        self.out = BatchSender(app, app.settings.topic("feat.events"))

    def entry(self, symbol: str) -> FeatureEntry:
        held = self.entries.get(symbol)
        return load(symbol) if held is None else held[0]

    def fold(self, d: Delivery[TickArrays]) -> None:
        entry = self.entry(d.key)
        if entry.has_applied(d.topic, d.offset):
            skipped(d)  # redelivered after a crash: already in the state, its events already sent
            return
        if d.topic == "mkt.perp":
            state, events = step_columns(entry.state, d.value, self.cfg)
            # the wire bytes straight from the columns, checked against the contract (encode.py)
            self.out.extend(d.partition, d.key.encode(), encode_columns(events))
        else:
            state = step_reference(entry.state, d.value, self.cfg)
        self.entries[d.key] = (entry.after(state, d.topic, d.offset), d.partition)

    async def close(self) -> None:
        # every event on the broker before any state says "done"
        await asyncio.gather(*await self.out.send())
        for entry, partition in self.entries.values():
            store(entry, partition)


class Windows:
    """The stream's events as the shell reads them, in windows. Each event is noted for the manual
    ack, dead-lettered ones too (an offset never acked would hold every later commit back). The
    window closes once the event is fully handled (folded by the agent, or dead-lettered by the
    shell: either way this generator is asked for the next one) and the channel holds no more, or
    after ``WINDOW_BATCHES`` records: so a stream that ends in a dead letter still flushes."""

    def __init__(self, stream: Stream) -> None:
        self.stream = stream.noack()
        self.channel = self.stream.channel
        self.current: Window | None = None  # opened by the window's first batch, on the config then
        self.seen: list[EventT] = []

    def window(self) -> Window:
        if self.current is None:
            self.current = Window(current_config())
        return self.current

    async def events(self) -> AsyncIterator[EventT]:
        try:
            async for event in self.stream.events():
                self.seen.append(event)
                yield event
                if len(self.seen) >= WINDOW_BATCHES or getattr(self.channel, "empty", lambda: True)():
                    await self.close()
        finally:  # how full the windows ran: 1 record per window pays a round trip per batch
            n = windows["windows"]
            log.info(
                "features windows: %d, records %d, %.1f per window",
                n,
                windows["records"],
                windows["records"] / max(n, 1),
            )

    async def close(self) -> None:
        if self.current is not None:
            await self.current.close()
            self.current = None
        seen, self.seen = self.seen, []
        for event in seen:
            await self.stream.ack(event)
        windows["windows"] += 1
        windows["records"] += len(seen)


@app.agent(source.channel)
async def features(stream: StreamT) -> None:
    assert isinstance(stream, Stream)  # noack() is Stream's, not in StreamT
    batches = Windows(stream)
    async for d in source.deliveries(cast(StreamT, batches)):
        batches.window().fold(d)
