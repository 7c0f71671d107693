"""S3's Faust agent: ``feat.events`` in; ``ord.intents`` (on open), ``sig.events`` and a ``signals`` row
out, per feature event (spec §A S3.1, B1.1, B7.1).

Per event, in order: decide (the active bundle read once, Redis inputs, the model, the entry gate
reserving under the ``intent_id``), send the intent then the decision to
the input's partition (same count and key, DESIGN §1.4), queue the ``signals`` row, store the
symbol's state (``table[k] = new_state``: the changelog is written on assignment only).

Sends are not awaited one by one: Faust flushes its producer before it commits offsets, so an
event's outputs are on the broker before it counts as done. A crash in between redelivers the event
and the core answers it again from its state's history with the same ids; the gate holds the
reservation already (``duplicate``), so nothing is reserved or sent twice with other content.

The agent waits for a bundle to be active (``chimera config activate``): trading on a config nobody
activated is worse than waiting, and the events keep on the broker meanwhile.

``POST /decide`` (:mod:`agents.strategy.http`) is served by the worker's web server: it decides
with the agent's :class:`~agents.strategy.service.Strategy` (same active config, Redis inputs,
entry gate and event clock, so an HTTP open takes budget from the same pool) and answers 503
until the wiring is open or while no bundle is active.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from typing import Any

import faust
from faust.types import ConsumerT, StreamT
from mode import Service
from pydantic import BaseModel

from agents.app import app
from agents.features.core import FeatureEvent
from agents.shell import Source
from agents.strategy.http import PATH as DECIDE_PATH
from agents.strategy.http import DecideService, KafkaPublisher, create_app
from agents.strategy.records import PublishDecision, SendIntent
from agents.strategy.service import event_of
from agents.strategy.signals import signals_row
from agents.strategy.wiring import Wiring
from agents.web import ASGIApp, mount
from topics.codec import encode
from topics.envelope import DeadLetter
from topics.trading import FeatureEvent as FeatureMessage

log = logging.getLogger(__name__)
FOLLOWER_START_S = 30.0


def to_event(msg: BaseModel) -> FeatureEvent:
    assert isinstance(msg, FeatureMessage)
    return event_of(msg)


source = Source(app, ("feat.events",), convert=to_event)
sig_events = app.output_topic("sig.events")
ord_intents = app.output_topic("ord.intents")
feat_dlq = app.output_topic("dlq.feat.events")
dead_letters: Counter[str] = Counter()  # symbol -> events the core refused
app.inputs.add("cfg.events")  # provisioned with the rest; followed by a broadcast consumer, not an agent
strategy_table = app.Table(
    "strategy",
    key_type=bytes,
    partitions=app.settings.topic_partitions,
    help="S3 per-symbol entry-signal state (agents.strategy.entry), keyed by symbol",
)


class Runtime(Service):
    """The worker's S3 wiring, opened BEFORE the app's consumer and agents start (it is the app's
    first dependency) and closed after they stopped (dependencies stop in reverse), so no event
    waits for it. Measured on a restart with events waiting on the topic: Faust 0.15.3 drops the
    records it is handed while it seeks to the committed offsets (their callbacks lose the race
    with ``suspend_flow`` and its read offset moves past them); setup awaited inside the first
    event made that window a second long and the drop near certain. It still happens, rarely."""

    wiring: Wiring | None = None
    decide_api: ASGIApp | None = None  # POST /decide, once the wiring is open
    follower_started: asyncio.Event

    async def on_start(self) -> None:
        self.wiring = await Wiring.open(app.settings)
        publisher = KafkaPublisher(app.settings.kafka_bootstrap, app.settings.topic_prefix)
        self.decide_api = create_app(DecideService(self.wiring.strategy, publisher))
        self.follower_started = asyncio.Event()
        self.add_future(self.wiring.follow(self.follower_started))
        try:  # the active bundle in place before the first event, in the normal case
            await asyncio.wait_for(self.follower_started.wait(), FOLLOWER_START_S)
        except TimeoutError:
            log.warning("cfg.events follower not started after %.0f s; S3 waits for it", FOLLOWER_START_S)

    async def on_stop(self) -> None:
        self.decide_api = None
        if self.wiring is not None:
            await self.wiring.close()
            self.wiring = None

    async def ready(self) -> Wiring:
        """The wiring once the follower installed cfg:{active} and a bundle is active (trading on a
        config nobody activated is worse than waiting; the events keep on the broker)."""
        await self.follower_started.wait()
        assert self.wiring is not None
        holder = self.wiring.strategy.holder
        if holder.peek() is None:
            log.warning("S3 waits for an active config bundle (`chimera config activate BUNDLE_ID`)")
            await holder.wait()
        return self.wiring


runtime = Runtime()
app.add_dependency(runtime)
mount(app, [DECIDE_PATH], lambda: runtime.decide_api, "S3 is starting: its wiring is not open yet")


class _FlushAtCommit(faust.Sensor):
    """Write queued ``signals`` rows when Faust starts an offset commit (rows before offsets)."""

    def on_commit_initiated(self, consumer: ConsumerT) -> Any:
        if runtime.wiring is not None:
            runtime.wiring.flush()


app.sensors.add(_FlushAtCommit())


async def dead_letter(ev: FeatureEvent, partition: int, offset: int, reason: str) -> None:
    """Route an event the core refused to ``dlq.feat.events`` with the reason (DESIGN §1.6)."""
    physical = app.settings.topic("feat.events")
    raw = FeatureMessage.model_validate(ev).encode()
    letter = DeadLetter.of(physical, raw, reason, partition=partition, offset=offset, key=ev["symbol"])
    log.warning("dead letter %s[%d]@%d: %s", physical, partition, offset, reason)
    dead_letters[ev["symbol"]] += 1
    await feat_dlq.send(key=ev["symbol"].encode(), value=letter.encode())


@app.agent(source.channel)
async def strategy(stream: StreamT) -> None:
    wiring = await runtime.ready()
    sig_physical = app.settings.topic("feat.events")
    async for d in source.deliveries(stream):
        key = d.key.encode()
        state = strategy_table.get(key) or {}
        try:
            snap, out = await wiring.strategy.decide(state, d.value)
        except ValueError as exc:  # the event's content defeats the core: a dead letter, not a crash loop
            await dead_letter(d.value, d.partition, d.offset, f"S3 cannot decide: {exc}")
            continue
        for effect in out.effects:
            if isinstance(effect, SendIntent):
                await ord_intents.send(
                    key=key, value=encode(effect.intent, "ord.intents"), partition=d.partition
                )
            elif isinstance(effect, PublishDecision):
                await sig_events.send(
                    key=key, value=encode(effect.decision, "sig.events"), partition=d.partition
                )
        await wiring.record(
            signals_row(d.value, out.decision, snap.bundle_id), sig_physical, d.partition, d.offset
        )
        strategy_table[key] = out.state
