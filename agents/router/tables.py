"""S4's one table, ``router``: per partition, the paper desk — the SimVenue exchange and the router's
state — in two records:

- ``desk:<p>``, the :class:`DeskImage`: the exchange and router state after the last event that
  changed anything anyone else sees (an order call, a result, a row), with the offsets folded into
  it, the results sent since the last producer flush and the rows not yet known to be in
  ClickHouse;
- ``cursor:<p>``, the :class:`Cursor`: the offsets folded in since (every event moves it; market
  batches that changed nothing outside the desk are re-read from their topics on restore), and the
  venue calls of the event in progress.

Why the paper exchange lives here: in paper mode SimVenue runs inside the router's worker (it must
see the market in event time, and the market is co-partitioned with the orders), so a ``kill -9``
of the worker is also a crash of the exchange. A real exchange does not forget orders when we
crash; the image makes the paper one behave the same way. The rules that make it hold:

- **Venue truth before anyone hears of it.** An event's image is written, and the producer
  flushed, before its ``OrderResult``\\ s are sent and its rows queued: downstream never learns of an
  order or fill that a restart would lose.
- **Journal before each venue call.** A create / cancel / transfer is appended to the cursor's
  journal and flushed *before* SimVenue is asked. A restart re-applies the journal after the image
  and the catch-up, so an order whose send the router claimed in Redis is known to the venue
  afterwards, as on a real exchange. A crash before the journal reached the broker means the venue
  never saw the call: the redelivered intent's claims are dropped and it is sent as new (the agent's
  ``Desk._forget_unsent``; a TWAP slice sent from the queue is reported ``NOT_PLACED`` instead,
  DESIGN §1.8). (A call a timer made in mid-batch is re-applied before that batch's ticks: the
  batch is redelivered whole.)
- **The market does not wait.** After the image, the cursor and the journal, the restored venue
  reads its market topics on to their end: the exchange kept trading while the worker was down,
  and the redelivered intents meet it where the market is now (what that makes happen, e.g. a stop
  crossed meanwhile, is told with the next event).
- **Outbox until confirmed.** Results sent since the last flush, and rows not yet written, ride in
  the image; a restart sends / queues them again (S6 applies a fill once per ``trade_id``;
  ReplacingMergeTree folds a row written twice).
- **Offsets folded in.** A redelivered event at or below the cursor is already in the desk.

Both records go to the changelog partition of the event being handled, in order, so a cursor on the
broker implies every image written before it is there too; a cursor behind the image (written
before it, the newer cursor lost in the crash) is stale and ignored with its journal.

One desk per partition: a partition that moves to another worker takes its paper exchange along
(paper mode has one SimVenue per partition; its wallet is that partition's).

The image is pickled (SimExchange has no JSON form, the router state is frozen dataclasses): it is
this code version's private state on our own changelog topic, never read from anywhere else. A
record of another ``IMAGE_VERSION`` is refused loudly rather than guessed at.
"""

from __future__ import annotations

import pickle
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from agents.app import app
from agents.connectors.port import OcoRequest, OrderRequest
from agents.connectors.simvenue import SimExchange
from agents.router.core import RouterState
from chimera.model import ClientOrderId, Market, Symbol
from topics.trading import OrderResult

IMAGE_VERSION = 1
Row = tuple[str, Mapping[str, Any]]  # (ClickHouse table, row)


@dataclass(frozen=True, slots=True)
class VenueCall:
    """One mutating call on the paper venue, journaled before it is made."""

    op: str  # "create" | "oco" | "cancel" | "transfer"
    request: OrderRequest | OcoRequest | None = None
    market: Market | None = None
    symbol: Symbol | None = None
    client_order_id: ClientOrderId | None = None
    transfer: tuple[Any, ...] = ()  # asset, amount, from wallet, to wallet, transfer_id


@dataclass
class DeskImage:
    base: bytes  # pickle of (SimExchange, RouterState)
    applied: dict[str, int] = field(default_factory=dict)  # logical topic -> last offset in base
    outbox: list[OrderResult] = field(default_factory=list)  # sent, not yet known to be on the broker
    rows: list[Row] = field(default_factory=list)  # queued, not yet known to be in ClickHouse
    symbols: tuple[str, ...] = ()  # the symbols seen on this partition (whose TWAP slices it drains)

    def state(self) -> tuple[SimExchange, RouterState]:
        ex, st = pickle.loads(self.base)
        return ex, st


@dataclass
class Cursor:
    applied: dict[str, int] = field(default_factory=dict)  # logical topic -> last offset folded in
    journal: list[VenueCall] = field(default_factory=list)  # venue calls of the next event

    def behind(self, image: DeskImage) -> bool:
        return any(self.applied.get(t, -1) < off for t, off in image.applied.items())


def base_of(ex: SimExchange, state: RouterState) -> bytes:
    return pickle.dumps((ex, state), protocol=pickle.HIGHEST_PROTOCOL)


def _encode(value: DeskImage | Cursor) -> bytes:
    return zlib.compress(pickle.dumps((IMAGE_VERSION, value), protocol=pickle.HIGHEST_PROTOCOL), 1)


def _decode(raw: bytes, kind: type[Any]) -> Any:
    version, value = pickle.loads(zlib.decompress(raw))
    if version != IMAGE_VERSION or not isinstance(value, kind):
        raise ValueError(f"router {kind.__name__} record version {version!r} is not {IMAGE_VERSION}")
    return value


router_table = app.Table(
    "router",
    key_type=bytes,
    value_type=bytes,  # raw: records are bytes already, so recovery decodes nothing per record
    partitions=app.settings.topic_partitions,
    help="S4 per-partition paper desk (agents.router.tables): desk:<p> image, cursor:<p> offsets + journal",
)


def load(partition: int) -> tuple[DeskImage | None, Cursor | None]:
    image = router_table.get(f"desk:{partition}".encode())
    cursor = router_table.get(f"cursor:{partition}".encode())
    return (
        None if image is None else _decode(image, DeskImage),
        None if cursor is None else _decode(cursor, Cursor),
    )


# a new value every time: Faust writes the changelog on assignment only
def store_image(partition: int, image: DeskImage) -> None:
    router_table[f"desk:{partition}".encode()] = _encode(image)


def store_cursor(partition: int, cursor: Cursor) -> None:
    router_table[f"cursor:{partition}".encode()] = _encode(cursor)
