"""One intent being executed (``Exec``), what a style sees of the world (``View``), and the order
requests styles build. A style never sends: it returns ``Place`` / ``CancelOrder`` effects and
the core registers the orders it asked for."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from agents.connectors.port import Instrument, OrderRequest
from agents.router.book import Book
from agents.router.messages import Ctx, Effect
from agents.router.tracks import ZERO, Track
from chimera.model import ClientOrderId, Market, OrderType, Side, TimeInForce, client_order_id_for
from topics.trading import OrderIntent

DONE = "done"


@dataclass(frozen=True, slots=True)
class Exec:
    intent: OrderIntent
    phase: str = "new"
    cids: tuple[ClientOrderId, ...] = ()  # every order sent for the intent, in send order
    current: ClientOrderId | None = None  # the working order of a sequential style
    makers: int = 0  # maker orders sent (maker_taker)
    deadline: int | None = None  # event time the maker wait ends
    done_filled: Decimal = ZERO  # filled by finished orders of the working leg
    cancelled: bool = False  # a CancelIntent ended the execution: send nothing new for it
    recorded: bool = False  # TP_SL_PLACED written
    last_k: int = -1  # highest TWAP slice sent
    # a cancel's own execution: its target, the orders it waits for, and whether to flatten after
    target: str | None = None
    pending: tuple[ClientOrderId, ...] = ()
    flatten: bool = False
    passive: bool = False  # adopted after a restart: tracked, no more decisions

    @property
    def done(self) -> bool:
        return self.phase == DONE


Step = tuple[Exec, list["StyleEffect"]]


@dataclass(frozen=True, slots=True)
class View:
    """The world as one step of a style sees it."""

    ctx: Ctx
    book: Book
    now: int
    inst: Instrument
    tracks: Mapping[ClientOrderId, Track]

    def of(self, x: Exec) -> list[Track]:
        return [self.tracks[c] for c in x.cids if c in self.tracks]


def cid(intent: OrderIntent, slice_no: int | str) -> ClientOrderId:
    return client_order_id_for(intent.intent_id, slice_no)


def is_exit(intent: OrderIntent) -> bool:
    """An order that can only reduce exposure: reduce-only futures, or any spot sell (no shorting)."""
    return intent.reduce_only or (intent.market is Market.SPOT and intent.side is Side.SELL)


def request(
    intent: OrderIntent,
    slice_no: int | str,
    type_: OrderType,
    qty: Decimal,
    *,
    side: Side | None = None,
    price: Decimal | None = None,
    stop: Decimal | None = None,
    tif: TimeInForce | None = None,
    reduce_only: bool | None = None,
) -> OrderRequest:
    return OrderRequest(
        symbol=intent.symbol,
        market=intent.market,
        side=intent.side if side is None else side,
        type=type_,
        qty=qty,
        client_order_id=cid(intent, slice_no),
        price=price,
        stop_price=stop,
        time_in_force=tif,
        reduce_only=intent.reduce_only if reduce_only is None else reduce_only,
    )


def post_only(intent: OrderIntent, slice_no: int | str, qty: Decimal, price: Decimal | None) -> OrderRequest:
    """Spot LIMIT_MAKER, futures LIMIT GTX: both refuse to take."""
    if intent.market is Market.SPOT:
        return request(intent, slice_no, OrderType.LIMIT_MAKER, qty, price=price)
    return request(intent, slice_no, OrderType.LIMIT, qty, price=price, tif=TimeInForce.GTX)


def taker(
    intent: OrderIntent, slice_no: int | str, qty: Decimal, book: Book, inst: Instrument
) -> OrderRequest:
    """A taking order: MARKET, or LIMIT IOC at the worst price when the intent sets a limit or budget."""
    from agents.router.pricing import worst_price

    limit = worst_price(intent.side, book, inst, intent.worst_price, intent.max_slippage_bps)
    if limit is None:
        return request(intent, slice_no, OrderType.MARKET, qty)
    return request(intent, slice_no, OrderType.LIMIT, qty, price=limit, tif=TimeInForce.IOC)


@dataclass(frozen=True, slots=True)
class Refuse:
    """Inside the core only: report ``req`` REJECTED without sending it (the core turns it into a
    tracked order and its result)."""

    req: OrderRequest
    intent: OrderIntent
    role: str
    reason: str


StyleEffect = Effect | Refuse


def slice_names(intent: OrderIntent, max_reprices: int) -> list[str]:
    """Every slice name the style may have used for an intent: the client_order_ids a restarted
    router looks for at the venue (through their idempotency records)."""
    if intent.exec == "maker_taker":
        return [*(f"m{i}" for i in range(max_reprices + 1)), "t"]
    if intent.exec == "twap":
        return [str(k) for k in range(intent.twap_slices or 0)]
    if intent.exec == "oco":
        return ["tp", "sl"] if intent.side is Side.SELL else ["e", "tp", "sl"]
    if intent.exec == "guard":
        return ["g", "x"]
    if intent.exec == "sl_tp":
        return ["sl", "tp"]
    return ["0"]
