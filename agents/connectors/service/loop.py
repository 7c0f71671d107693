"""``MarketDataService``: the thin async shell around :class:`MarketDataCore`.

Feeds (async iterables of normalised records: ccxt.pro watchers through ``ccxt_source``, or any
async iterator, e.g. a recording) are pumped concurrently into the one core; each message the core
returns goes out through the injected ``send`` (``BulkProducer.send`` in production). Live
(``clock`` given): records are stamped on receipt, a timer closes quiet batches and reports due
metrics, an optional pinger measures the websocket round trip. Replay (``clock=None``): event
time is the clock, no timer; pass one time-ordered feed (``recordings.load_files`` merges files),
since two concurrent feeds interleave arbitrarily and the aligner would re-stamp or drop.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from agents.connectors.service.core import CoreStats, MarketDataCore, Record, ServiceConfig
from agents.connectors.service.publish import Message, Send, TopicName
from chimera.model import Clock

# one probe round: source name -> round trip in ms (a source that did not answer is left out)
Pinger = Callable[[], Awaitable[dict[str, float]]]


@dataclass(frozen=True, slots=True)
class Feed:
    """One async source of records; a ``live`` one is measured for lag (``s1.ws_rtt`` method=lag)."""

    name: str
    records: AsyncIterable[Record]
    live: bool = True


class MarketDataService:
    def __init__(
        self,
        config: ServiceConfig,
        send: Send,
        topic: TopicName,
        clock: Clock | None = None,
        pinger: Pinger | None = None,
        ping_interval_ms: int = 10_000,
    ) -> None:
        self.core = MarketDataCore(config, topic)
        self.config = config
        self.send = send
        self.clock = clock
        self.pinger = pinger
        self.ping_interval_ms = ping_interval_ms
        self._stop = asyncio.Event()

    @property
    def stats(self) -> CoreStats:
        return self.core.stats

    def _out(self, messages: list[Message]) -> None:
        for topic, key, value in messages:
            self.send(topic, key, value)

    async def _pump(self, feed: Feed) -> None:
        clock, core = self.clock, self.core
        source = feed.name if feed.live else None
        async for record in feed.records:
            received = None if clock is None else clock.now_ms()
            self._out(core.on_record(record, received, source))

    async def _timer(self, clock: Clock) -> None:
        while True:
            await asyncio.sleep(self.config.timer_ms / 1000)
            self._out(self.core.on_timer(clock.now_ms()))

    async def _ping(self, clock: Clock, pinger: Pinger) -> None:
        while True:
            await asyncio.sleep(self.ping_interval_ms / 1000)
            for source, rtt in (await pinger()).items():
                self._out(self.core.on_ping(source, rtt, clock.now_ms()))

    def stop(self) -> None:
        """End :meth:`run` gracefully (a live feed never ends): open batches and metrics go out."""
        self._stop.set()

    async def run(self, feeds: Sequence[Feed]) -> CoreStats:
        """Pump every feed until all end or :meth:`stop`, then flush; return the counts. A feed
        that raises ends the run with its error (nothing flushed: the supervisor restarts)."""
        pumps: asyncio.Future[Any] = asyncio.gather(*(self._pump(f) for f in feeds))
        helpers: list[asyncio.Task[None]] = []
        if self.clock is not None:
            helpers.append(asyncio.create_task(self._timer(self.clock)))
            if self.pinger is not None:
                helpers.append(asyncio.create_task(self._ping(self.clock, self.pinger)))
        stopped: asyncio.Future[Any] = asyncio.create_task(self._stop.wait())
        try:
            await asyncio.wait([pumps, stopped], return_when=asyncio.FIRST_COMPLETED)
            if pumps.done():
                pumps.result()  # a feed's error
        finally:
            tasks = [pumps, stopped, *helpers]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        self._out(self.core.finish(None if self.clock is None else self.clock.now_ms()))
        return self.core.stats
