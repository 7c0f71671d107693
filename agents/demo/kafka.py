"""``chimera demo --kafka``: the same run through the Faust workers over Kafka (DESIGN §7 replay).

Not built yet (another engineer is on it). What it must do to plug in, given the
:class:`~agents.demo.runner.Runner` signature:

1. provision a prefixed topic set (``bt.<run_id>.``, ``topics.admin.ensure_topics``) on the broker
   the settings name (Tansu: ``chimera.stack`` starts it with ``--kafka``);
2. start workers for features, strategy, router and positions with ``CHIMERA_TOPIC_PREFIX``,
   ``CHIMERA_REDIS_KEY_PREFIX=ctx.run_id``'s prefix, ``CHIMERA_CLICKHOUSE_DATABASE=ctx.database``,
   the bundle activated (``chimera config load/activate``) and a SimVenue fed from ``mkt.*``;
3. replay ``records`` (``agents.connectors.replay.replay_records``) with the engine's batch
   window (``Settings.mkt_batch_window_ms``, not the 60 s replay window: that holds every decision
   back one bar and the two paths would differ);
4. wait until every topic is drained, stop the workers, and fill ``Totals`` from what it consumed
   (``sig.events``, ``ord.results``, ``pos.events``) and the venue's wallet — the summary then reads
   ClickHouse and checks it against those totals exactly as for the in-process engine.
"""

from __future__ import annotations

from agents.config.bundle import Bundle
from agents.connectors.recordings import Record
from agents.demo.runner import RunContext, RunOutcome

READY = False  # set when ``run`` below is built; until then ``--kafka`` stops before the stack starts
NOT_READY = (
    "the --kafka path (Faust workers over Kafka) is not built yet; see agents/demo/kafka.py "
    "for its contract. `chimera demo` without --kafka runs the same services in-process."
)


async def run(records: list[Record], bundle: Bundle, ctx: RunContext) -> RunOutcome:
    raise NotImplementedError(NOT_READY)
