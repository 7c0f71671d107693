"""S1's part of a Kafka demo run: the records as the messages a live connector publishes, in the
order the in-process engine hands them on (``agents.engine.engine``, step 1).

- Ticks go through S1's ``MicroBatcher`` with the *live* window (``Settings.mkt_batch_window_ms``,
  as the engine's batch timer): a bar's decision then comes with the next bar's first tick, as in
  the engine. ``chimera replay``'s 60 s window would hold every decision back one bar.
- A batch whose window ended by a record's time is closed *before* that record, funding rates
  included (``replay_records`` closes batches on ticks only, so a rate would overtake the batch
  the engine closes first, and S3 would read the new ``funding:{next}`` one batch early).
- A funding rate comes after its perpetual's open batch, closed at the rate's time (as the engine
  closes it): the paper venue settles on the positions and mark as of the ticks before it, which
  the engine applied as they came.
- A funding rate is also S1's ``funding:{next}`` for S3: :class:`Message.funding` carries it, and
  the runner writes the key just before publishing (after everything earlier is done).
- A malformed record goes to its ``dlq.<topic>`` as ``chimera replay`` sends it.
- Where a perpetual's own data ends (``agents.engine.ends``: the records given are trimmed), a
  message with ``ended`` set comes once S1 has closed its last batch, before the next record's
  own, where the engine closes its positions: the runner closes them there too.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from agents.connectors.marketdata import Malformed, MicroBatcher
from agents.connectors.recordings import Record
from agents.connectors.replay import dead_letter
from agents.engine.ends import DataEnds
from chimera.model import Market
from topics.market import FundingEvent, MarketBatch, topic_for_market


@dataclass(frozen=True)
class Message:
    topic: str  # logical
    key: bytes
    value: bytes
    records: int  # input records consumed by the time this message is due (for progress)
    batch: MarketBatch | None = None
    funding: FundingEvent | None = None
    malformed: Malformed | None = None
    ended: str | None = None  # a perpetual whose data ended: nothing to publish, a close to make


@dataclass
class FeedCounts:
    records: int = 0
    ticks: int = 0
    batches: int = 0
    funding: int = 0
    malformed: int = 0


def messages(
    records: Iterable[Record], batcher: MicroBatcher, counts: FeedCounts, ends: DataEnds | None = None
) -> Iterator[Message]:
    """The messages of ``records``, lazily; ``counts`` is kept up to date as they are drawn."""
    last = -1

    def batches(closed: list[MarketBatch]) -> Iterator[Message]:
        for b in closed:
            counts.batches += 1
            yield Message(topic_for_market(b.market), b.symbol.encode(), b.encode(), counts.records, batch=b)

    for rec in records:
        counts.records += 1
        if isinstance(rec, Malformed):
            counts.malformed += 1
            yield Message(
                f"dlq.{rec.topic}", rec.file.encode(), dead_letter(rec), counts.records, malformed=rec
            )
            continue
        if rec.ts < last:
            raise ValueError(
                f"records out of event-time order: {rec} at {rec.ts} after {last} "
                "(load_files merges files in time order; a file's own order is the loader's)"
            )
        last = rec.ts
        yield from batches(batcher.close_due(rec.ts))
        for sym in ends.due(rec.ts) if ends is not None else ():
            yield Message("", b"", b"", counts.records - 1, ended=sym)
        if isinstance(rec, FundingEvent):
            yield from batches(batcher.close_symbol(Market.FUT, rec.symbol, rec.ts))
            counts.funding += 1
            yield Message("mkt.funding", rec.symbol.encode(), rec.encode(), counts.records, funding=rec)
        else:
            counts.ticks += 1
            yield from batches(batcher.add(rec))
    yield from batches(batcher.flush())
