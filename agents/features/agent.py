"""S2's shell: market batches in, one feature event per closed bar out on ``feat.events``.

A perpetual's batches are the symbol's own series (``step``); the same symbol's spot batches are the
reference ``rho`` is measured against (``step_reference``): both topics are keyed by symbol and
co-partitioned, so one worker holds both in one table entry. Feature events go to the input's
partition (same count, DESIGN §1.4), so S3 sees a symbol where S2 saw it whatever partitioner the
market producer used.

Order per batch: the events are acknowledged before the new state is stored. A crash between the
two redelivers the batch and re-sends the same events (same ``signal_id``); the reverse order could
store a state whose events were never sent, and the offset guard would then skip them for good.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter

from faust.types import StreamT
from pydantic import BaseModel

from agents.app import app
from agents.features.config import FeatureConfig
from agents.features.core import FeatureEvent, step, step_reference
from agents.features.tables import load, store
from agents.features.ticks import TickArrays, ticks_from_batch
from agents.shell import Delivery, Source
from topics.codec import encode as encode_record
from topics.market import MarketBatch
from topics.trading import FeatureEvent as FeatureMessage

log = logging.getLogger(__name__)

# until S10's bundles (cfg.events) carry it
CONFIG = FeatureConfig()


def to_ticks(batch: BaseModel) -> TickArrays:
    """The core's input; ValueError (to the DLQ) for values the core refuses, e.g. a negative price."""
    assert isinstance(batch, MarketBatch)
    return ticks_from_batch(batch, CONFIG.depth_levels)


def encode(event: FeatureEvent) -> bytes:
    """The wire form, checked against the ``feat.events`` contract on the way out."""
    return encode_record(FeatureMessage.model_validate(event), "feat.events")


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
feat_events = app.output_topic("feat.events")


@app.agent(source.channel)
async def features(stream: StreamT) -> None:
    async for d in source.deliveries(stream):
        entry = load(d.key)
        if entry.has_applied(d.topic, d.offset):
            skipped(d)  # redelivered after a crash: already in the state, its events already sent
            continue
        if d.topic == "mkt.perp":
            state, events = step(entry.state, d.value, CONFIG)
        else:
            state, events = step_reference(entry.state, d.value, CONFIG), []
        sent = [
            await feat_events.send(key=d.key.encode(), value=encode(e), partition=d.partition) for e in events
        ]
        await asyncio.gather(*sent)
        store(entry.after(state, d.topic, d.offset))
