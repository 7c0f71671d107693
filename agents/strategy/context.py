"""What the shell read for one decision (``Ctx``), and the answers of the model and the entry gate."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from agents.strategy.config import StrategyConfig


class HealthLevel(StrEnum):
    """S11's system health (``prod:{health}:system:state``), best first."""

    GREEN = "GREEN"
    YELLOW = "YELLOW"
    ORANGE = "ORANGE"
    RED = "RED"


@dataclass(frozen=True, slots=True)
class ModelOutcome:
    p: float  # probability the entry's direction is right (what sizing uses)
    source: Literal["model", "timeout", "error", "busy"]  # anything but "model" is the fallback p


@dataclass(frozen=True, slots=True)
class GateResult:
    """The entry gate's answer for one reservation (``gate_step`` builds it from ``EntryGate``)."""

    intent_id: str
    granted: bool
    margin_usdt: Decimal
    refusal: str | None = None  # BUDGET | CONCURRENCY | RELEASED | EXPIRED | CONFLICT
    duplicate: bool = False  # held since an earlier delivery of the same intent


@dataclass(frozen=True, slots=True)
class Ctx:
    """Inputs of ``decide`` besides the state and the event. ``model`` and ``gate`` start as None;
    the shell fills them when the core asks (``core.pending_input``)."""

    cfg: StrategyConfig
    config_rev: str | None = None  # the active bundle's rev (decisions record it); None: cfg.rev
    kill_switch: bool = False
    regime: str | None = None  # None: S2's regime record missing or unreadable
    regime_expires_at: int | None = None  # event time after which the regime record is stale
    health: str | None = None  # None: no level published; the config's health_default applies
    funding: float | None = None  # next funding rate of the symbol
    model: ModelOutcome | None = None
    gate: GateResult | None = None
