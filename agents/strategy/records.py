"""What the core produces: a ``Decision`` per feature event, an ``OrderIntent`` per entry, the
effects the shell carries out, and the two requests the core makes of the shell (model, gate)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any, Literal

from agents.strategy.config import ExecStyle
from chimera.model import Market, Side


class Reason(StrEnum):
    """Skip reasons, in the order the core checks them (rule skips read ``RULE:<name>``)."""

    KILL_SWITCH = "KILL_SWITCH"
    STALE_EVENT = "STALE_EVENT"  # older than the redelivery window: cannot be recomputed
    TRADING_WINDOW = "TRADING_WINDOW"
    HEALTH = "HEALTH"
    REGIME = "REGIME"
    DATA_QUALITY = "DATA_QUALITY"
    UNKNOWN_SYMBOL = "UNKNOWN_SYMBOL"
    NO_SIGNAL = "NO_SIGNAL"
    MIN_QTY = "MIN_QTY"
    MIN_NOTIONAL = "MIN_NOTIONAL"
    RISK_BUDGET = "RISK_BUDGET"  # the gate refused: margin budget or the symbol's concurrency
    INTENT_SPENT = "INTENT_SPENT"  # this intent's reservation was already released/expired/other
    EMA_CROSS_UP = "EMA_CROSS_UP"  # the reasons of an open
    EMA_CROSS_DOWN = "EMA_CROSS_DOWN"


def rule_reason(name: str) -> str:
    return f"RULE:{name}"


def _jsonable(d: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, Decimal):
            out[k] = str(v)
        elif isinstance(v, tuple):
            out[k] = list(v)
        else:
            out[k] = v
    return out


@dataclass(frozen=True, slots=True)
class Decision:
    """One per feature event (``signals.decision`` and the ``sig.events`` snapshot). Fields the
    core did not reach before skipping are None (e.g. ``model_p`` on a KILL_SWITCH skip)."""

    signal_id: str
    symbol: str
    ts: int  # the feature event's t0 (event time of the decision)
    action: Literal["open", "skip"]
    reason: str
    config_rev: str
    detail: str = ""
    market: Market | None = None  # None: the symbol has no instrument data
    regime: str | None = None  # the regime L0 saw (None: missing or expired)
    side: Side | None = None
    size_mult: float | None = None
    sl_mult: float | None = None
    tp_mult: float | None = None
    max_adds_override: int | None = None
    model_p: float | None = None
    model_source: str | None = None
    rules_fired: tuple[str, ...] = ()
    rules_failed: tuple[str, ...] = ()
    intent_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return _jsonable(asdict(self))


@dataclass(frozen=True, slots=True)
class OrderIntent:
    """An entry for S4 (``ord.intents``). ``sl_price``/``tp_price`` are references from the
    decision's close; S6 places the real legs from the fill price and the ATR multiples (B1.3)."""

    intent_id: str
    signal_id: str
    symbol: str
    market: Market
    side: Side
    qty: Decimal
    price_ref: Decimal  # the close the size was computed at, on the tick
    margin_usdt: Decimal  # what the entry gate reserved (qty * price_ref / leverage, up to the micro)
    leverage: int
    exec_style: ExecStyle
    maker_wait_ms: int
    market_ratio: float
    sl_atr_mult: float
    tp_atr_mult: float
    sl_price: Decimal | None
    tp_price: Decimal | None
    max_adds_override: int | None
    ts: int
    config_rev: str
    reduce_only: bool = False

    def to_dict(self) -> dict[str, Any]:
        return _jsonable(asdict(self))


@dataclass(frozen=True, slots=True)
class PublishDecision:
    """Write ``signals.decision`` and publish the ``sig.events`` snapshot."""

    decision: Decision


@dataclass(frozen=True, slots=True)
class SendIntent:
    """Send the entry to S4 (only after its gate reservation was granted)."""

    intent: OrderIntent


Effect = PublishDecision | SendIntent


@dataclass(frozen=True, slots=True)
class ModelRequest:
    """The core needs L2's entry probability for ``side`` on these features."""

    symbol: str
    side: Side
    features: Mapping[str, float | int | None]


@dataclass(frozen=True, slots=True)
class GateRequest:
    """The core needs the entry gate's answer for this reservation (B7), keyed by ``intent_id``."""

    intent_id: str
    symbol: str
    margin_usdt: Decimal
    budget_limit_usdt: Decimal
    max_concurrency: int
    ttl_ms: int
