"""What the core produces besides the wire contracts, and what it asks of the shell.

The decision and the entry are the contracts of ``topics.trading`` (``Decision`` on ``sig.events``
and in ``signals``, ``OrderIntent`` on ``ord.intents``): the core builds them itself, so what is
tested is what is published. What the contracts do not carry -- why a gate said no, which rules
fired, the p sizing used, the margin the gate holds -- is a :class:`Trace` beside the decision:
for logs, the ``POST /decide`` answer and tests, never a second version of the decision.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any

from chimera.model import Side
from topics.trading import Decision, OrderIntent


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
    NO_STOPS = "NO_STOPS"  # an OCO / guard entry needs stop levels, and there is no ATR to set them
    RISK_BUDGET = "RISK_BUDGET"  # the gate refused: margin budget or the symbol's concurrency
    INTENT_SPENT = "INTENT_SPENT"  # this intent's reservation was already released/expired/other
    EMA_CROSS_UP = "EMA_CROSS_UP"  # the reasons of an open
    EMA_CROSS_DOWN = "EMA_CROSS_DOWN"


def rule_reason(name: str) -> str:
    return f"RULE:{name}"


@dataclass(frozen=True, slots=True)
class Trace:
    """How the core got to its decision; fields it did not reach are None / empty."""

    detail: str = ""
    model_source: str | None = None  # "model", or the fallback's cause: timeout | error | busy
    entry_p: float | None = None  # the probability sizing used (the fallback's when not "model")
    rules_fired: tuple[str, ...] = ()
    rules_failed: tuple[str, ...] = ()
    intent_id: str | None = None  # the reservation the gate was asked for
    price_ref: Decimal | None = None  # the close the size was computed at, on the tick
    margin_usdt: Decimal | None = None  # what the gate holds for the entry
    leverage: int | None = None
    market_ratio: float | None = None  # share S4 should take at market at once (B9)
    sl_atr_mult: float | None = None  # SL / TP distances in ATRs, after L1's multipliers
    tp_atr_mult: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: (str(v) if isinstance(v, Decimal) else list(v) if isinstance(v, tuple) else v)
                for k, v in asdict(self).items()}  # fmt: skip


@dataclass(frozen=True, slots=True)
class PublishDecision:
    """Write the ``signals`` row and publish the ``sig.events`` snapshot."""

    decision: Decision
    trace: Trace


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
