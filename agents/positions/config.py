"""S6's position config: frozen, validated, named by ``rev`` (a hash of its canonical JSON).

Distances are in one ``unit`` for the trailing ladder, the take-profit ladder and add-on
triggers: ``roe`` (return on the position's initial margin: 0.10 = the price moved
``0.10 / leverage`` in our favour) or ``atr`` (multiples of the ATR frozen when the position
opened, so the levels do not drift with the volatility estimate). The initial stop is in ATR
multiples when an ATR is known, else in ROE (``initial_sl_roe``).
"""

from __future__ import annotations

import json
from decimal import Decimal
from functools import cached_property
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, field_validator, model_validator

from chimera.model import stable_hash, to_decimal

Unit = Literal["roe", "atr"]
HOUR_MS = 3_600_000


def _exact(value: Any) -> Any:
    """Numbers are taken exactly: strings, ints, Decimals; a float through its shortest repr."""
    if isinstance(value, float | int | str | Decimal) and not isinstance(value, bool):
        return to_decimal(value)
    return value


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TrailStep(_Frozen):
    """When the favourable excursion reaches ``trigger``, move the stop to ``lock`` (same unit).

    ``lock`` 0 is break-even on price (fees not covered); a negative lock only shrinks the loss.
    """

    trigger: Decimal = Field(gt=0)
    lock: Decimal

    _num = field_validator("trigger", "lock", mode="before")(_exact)

    @model_validator(mode="after")
    def _lock_below_trigger(self) -> TrailStep:
        if self.lock >= self.trigger:
            raise ValueError(f"lock {self.lock} must be below its trigger {self.trigger}")
        return self


class TpRung(_Frozen):
    """At ``trigger`` (× the decision's tp_mult) take ``fraction`` of the position off."""

    trigger: Decimal = Field(gt=0)
    fraction: Decimal = Field(gt=0, le=1)

    _num = field_validator("trigger", "fraction", mode="before")(_exact)


class AddOnRule(_Frozen):
    """Add ``size_fraction`` of the entry quantity when the excursion reaches ``trigger × (k+1)``
    for the k-th add (k from 0), at most ``max_adds`` times (the decision's ``max_adds_override``
    replaces it). Adds stop once a take-profit rung has been taken."""

    max_adds: int = Field(0, ge=0, le=20)
    trigger: Decimal = Field(Decimal("0.05"), gt=0)
    size_fraction: Decimal = Field(Decimal("0.5"), gt=0, le=5)
    min_liq_distance: Decimal = Field(
        Decimal("0.05"), ge=0, lt=1, description="no add when the mark is closer than this to liquidation"
    )

    _num = field_validator("trigger", "size_fraction", "min_liq_distance", mode="before")(_exact)


class Stagnation(_Frozen):
    """A position ``after_ms`` old whose |ROE| is still below ``max_abs_roe`` is STAGNATED (once)."""

    after_ms: PositiveInt = 12 * HOUR_MS
    max_abs_roe: Decimal = Field(Decimal("0.02"), ge=0)
    exit: bool = Field(True, description="close it at market (reason TIME_STOP) when it stagnates")

    _num = field_validator("max_abs_roe", mode="before")(_exact)


class TreasuryRule(_Frozen):
    """Auto-treasury (B8): keep at least ``min_free_fut`` free in the futures wallet."""

    min_free_fut: Decimal = Field(Decimal("0"), ge=0)
    asset: str = Field("USDT", pattern=r"^[A-Z0-9]{1,20}$")
    step: Decimal = Field(Decimal("0.01"), gt=0, description="transfers are whole multiples of this")
    bucket_ms: PositiveInt = Field(HOUR_MS, description="at most one auto transfer per bucket")

    _num = field_validator("min_free_fut", "step", mode="before")(_exact)


class PositionConfig(_Frozen):
    leverage: int = Field(10, ge=1, le=125, description="must equal S3's: the gate reserved qty·price/lev")
    unit: Unit = "roe"
    initial_sl_atr: Decimal = Field(Decimal("1.5"), gt=0, description="× decision sl_mult × ATR")
    initial_sl_roe: Decimal = Field(Decimal("0.2"), gt=0, description="used when no ATR is known")
    trail: tuple[TrailStep, ...] = ()
    tp: tuple[TpRung, ...] = ()
    add_on: AddOnRule = AddOnRule()
    stagnation: Stagnation | None = None
    maintenance_margin_rate: Decimal = Field(Decimal("0.005"), ge=0, lt=1)
    liq_guard_distance: Decimal = Field(
        Decimal("0.02"), ge=0, lt=1, description="close at market when the mark is this close to liquidation"
    )
    snapshot_every_ms: PositiveInt = Field(60_000, description="a positions_snapshots row per tick at most")
    closed_retention_ms: PositiveInt = Field(
        24 * HOUR_MS, description="a closed position stays in the table this long (late results)"
    )
    plan_ttl_ms: PositiveInt = Field(HOUR_MS, description="an entry plan with no fill is dropped after this")
    max_protect_retries: int = Field(3, ge=0, le=20)
    gate_lease_ttl_ms: PositiveInt = Field(36 * HOUR_MS, description="S3's reservation lease (same value)")
    gate_renew_every_ms: PositiveInt = Field(HOUR_MS, description="renew an open position's lease this often")
    treasury: TreasuryRule = TreasuryRule()

    _num = field_validator(
        "initial_sl_atr", "initial_sl_roe", "maintenance_margin_rate", "liq_guard_distance", mode="before"
    )(_exact)

    @model_validator(mode="after")
    def _ladders_are_ladders(self) -> PositionConfig:
        triggers = [s.trigger for s in self.trail]
        locks = [s.lock for s in self.trail]
        if triggers != sorted(set(triggers)) or locks != sorted(set(locks)):
            raise ValueError("trail: triggers and locks must both be strictly increasing")
        rungs = [r.trigger for r in self.tp]
        if rungs != sorted(set(rungs)):
            raise ValueError("tp: rung triggers must be strictly increasing")
        if sum((r.fraction for r in self.tp[:-1]), Decimal(0)) >= 1:
            raise ValueError(
                "tp: the rungs before the last take the whole position; the last closes the rest"
            )
        if self.gate_renew_every_ms >= self.gate_lease_ttl_ms:
            raise ValueError("gate_renew_every_ms must be shorter than gate_lease_ttl_ms, or leases lapse")
        if self.liq_guard_distance >= 1 / Decimal(self.leverage):
            raise ValueError(
                f"liq_guard_distance {self.liq_guard_distance} is beyond the liquidation distance of a "
                f"fresh {self.leverage}x position: it would close every position at once"
            )
        return self

    @cached_property
    def rev(self) -> str:
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return f"pos-{stable_hash(canonical)}"
