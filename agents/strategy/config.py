"""S3's strategy config bundle: frozen, validated, and named by ``rev``, a hash of its canonical JSON
(as NautilusTrader names a config by the hash of its JSON), so two processes with equal bundles
agree on ``rev`` and every decision records which bundle made it.

Everything that names a feature (entry signal, rules, model weights) is checked against S2's
FEATURES at load; rules are parsed and checked at load too (``rules.check_rules``).
"""

from __future__ import annotations

import json
from decimal import Decimal
from enum import StrEnum
from functools import cached_property
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PositiveInt,
    PrivateAttr,
    field_validator,
    model_validator,
)

from agents.connectors.port import Instrument
from agents.features.core import FEATURES
from agents.features.dqc import Dqc
from agents.features.regime import Regime
from agents.strategy.context import HealthLevel
from agents.strategy.model import ModelParams
from agents.strategy.rules import RuleSet, RuleSpec, check_rules
from chimera.model import Market, stable_hash


class ExecStyle(StrEnum):
    """S4's execution styles (the spellings of ``ord.intents``' ``exec``)."""

    MARKET = "market"
    MAKER_TAKER = "maker_taker"  # post-only first, market after maker_wait_ms
    TWAP = "twap"
    OCO = "oco"  # spot: native OCO take-profit / stop legs
    GUARD = "guard"  # spot: limit-maker entry with a watched guard stop


FUT_STYLES = frozenset({ExecStyle.MARKET, ExecStyle.MAKER_TAKER, ExecStyle.TWAP})
SPOT_STYLES = frozenset({ExecStyle.OCO, ExecStyle.GUARD})


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Window(_Frozen):
    """UTC hours ``[start_hour, end_hour)`` of the decision time; start > end wraps past midnight."""

    start_hour: int = Field(ge=0, le=23)
    end_hour: int = Field(ge=1, le=24)

    @model_validator(mode="after")
    def _not_empty(self) -> Window:
        if self.start_hour == self.end_hour:
            raise ValueError(f"window {self.start_hour}-{self.end_hour} is empty")
        return self

    def contains(self, hour: int) -> bool:
        if self.start_hour < self.end_hour:
            return self.start_hour <= hour < self.end_hour
        return hour >= self.start_hour or hour < self.end_hour


class InstrumentSpec(_Frozen):
    """What sizing needs of a symbol (the venue's filters)."""

    market: Market
    tick_size: Decimal = Field(gt=0)
    lot_size: Decimal = Field(gt=0)
    min_qty: Decimal = Field(ge=0)
    min_notional: Decimal = Field(ge=0)

    @classmethod
    def from_instrument(cls, inst: Instrument) -> InstrumentSpec:
        return cls(
            market=inst.market,
            tick_size=inst.tick_size,
            lot_size=inst.lot_size,
            min_qty=inst.min_qty,
            min_notional=inst.min_notional,
        )


class EntrySignal(_Frozen):
    """EMA cross: long when ``fast - slow`` turns positive, short when it turns negative."""

    kind: Literal["ema_cross"] = "ema_cross"
    fast: str = "ema_fast"
    slow: str = "ema_slow"
    long: bool = True
    short: bool = True  # never on SPOT symbols: spot cannot be sold short

    @model_validator(mode="after")
    def _names(self) -> EntrySignal:
        for name in (self.fast, self.slow):
            if name not in FEATURES:
                raise ValueError(
                    f"entry signal names unknown feature {name!r} (known: {', '.join(FEATURES)})"
                )
        if self.fast == self.slow:
            raise ValueError(f"entry signal compares {self.fast!r} with itself")
        if not (self.long or self.short):
            raise ValueError("entry signal allows neither long nor short")
        return self


class Stops(_Frozen):
    """Default SL/TP distances in ATRs; L1's sl_mult / tp_mult scale them."""

    sl_atr: float = Field(1.5, gt=0, allow_inf_nan=False)
    tp_atr: float = Field(3.0, gt=0, allow_inf_nan=False)


class ExecDefaults(_Frozen):
    fut_style: ExecStyle = ExecStyle.MARKET
    spot_style: ExecStyle = ExecStyle.OCO
    maker_wait_ms: int = Field(2_000, ge=0, description="post-only wait before going taker (GREEN)")
    market_ratio: float = Field(0.0, ge=0, le=1, description="share sent at market at once (GREEN)")
    twap_slices: int = Field(4, ge=2, description="slices of a twap entry")
    twap_interval_ms: int = Field(30_000, ge=1, description="event time between twap slices")

    @model_validator(mode="after")
    def _styles(self) -> ExecDefaults:
        if self.fut_style not in FUT_STYLES:
            raise ValueError(f"fut_style {self.fut_style} is not one of {sorted(FUT_STYLES)}")
        if self.spot_style not in SPOT_STYLES:
            raise ValueError(f"spot_style {self.spot_style} is not one of {sorted(SPOT_STYLES)}")
        return self


class HealthRow(_Frozen):
    """B9's matrix row for one level: size down, maker wait up, market share up."""

    size_mult: float = Field(ge=0, le=1)
    maker_wait_mult: float = Field(ge=1, allow_inf_nan=False)
    market_ratio_add: float = Field(ge=0, le=1)


def _default_health() -> dict[HealthLevel, HealthRow]:
    # GREEN trades as configured; each worse level halves the risk step; RED never trades (L0 HEALTH)
    return {
        HealthLevel.GREEN: HealthRow(size_mult=1.0, maker_wait_mult=1.0, market_ratio_add=0.0),
        HealthLevel.YELLOW: HealthRow(size_mult=0.75, maker_wait_mult=1.5, market_ratio_add=0.1),
        HealthLevel.ORANGE: HealthRow(size_mult=0.5, maker_wait_mult=2.0, market_ratio_add=0.25),
    }


class StrategyConfig(_Frozen):
    name: str = Field("ema_cross", min_length=1)
    windows: tuple[Window, ...] = Field(
        (Window(start_hour=0, end_hour=24),), min_length=1, description="UTC trading windows"
    )
    regimes_allowed: tuple[Regime, ...] = Field((Regime.NORMAL, Regime.EXTREME), validate_default=True)
    dqc_block: tuple[Dqc, ...] = Field(
        (Dqc.STALE, Dqc.CROSSED, Dqc.OUTLIER, Dqc.WARMUP),
        validate_default=True,
        description="flags that forbid an entry",
    )
    instruments: dict[str, InstrumentSpec] = Field(min_length=1)
    margin_per_position_usdt: Decimal = Field(gt=0, description="margin of one entry at size_mult 1")
    margin_budget_usdt: Decimal = Field(gt=0, description="the gate's limit on margin in use")
    leverage: int = Field(1, ge=1, le=125, description="FUT only; SPOT entries use 1")
    max_concurrency_per_symbol: PositiveInt = 1
    gate_lease_ttl_ms: PositiveInt = Field(36 * 3_600_000, description="reservation lease; S6 renews")
    size_mult_cap: float = Field(2.0, gt=0, allow_inf_nan=False)
    entry: EntrySignal = EntrySignal()
    rules: tuple[RuleSpec, ...] = ()
    model: ModelParams = ModelParams()
    stops: Stops = Stops()
    exec: ExecDefaults = ExecDefaults()
    health: dict[HealthLevel, HealthRow] = Field(default_factory=_default_health)
    health_default: HealthLevel = Field(HealthLevel.YELLOW, description="level used while S11 publishes none")
    redelivery_window: int = Field(
        16, ge=1, le=1_000, description="past bars a redelivery can be recomputed for"
    )

    _ruleset: RuleSet = PrivateAttr()

    @field_validator("regimes_allowed", "dqc_block")
    @classmethod
    def _sorted_unique(cls, v: tuple[Any, ...]) -> tuple[Any, ...]:
        return tuple(sorted(set(v)))  # sets in meaning: one canonical order for rev

    @field_validator("rules")
    @classmethod
    def _by_priority(cls, v: tuple[RuleSpec, ...]) -> tuple[RuleSpec, ...]:
        return tuple(sorted(v, key=lambda r: (-r.priority, r.name)))  # listing order carries no meaning

    @field_validator("instruments")
    @classmethod
    def _symbols(cls, v: dict[str, InstrumentSpec]) -> dict[str, InstrumentSpec]:
        bad = [s for s in v if not s or not s.replace("/", "").replace(":", "").isalnum()]
        if bad:
            raise ValueError(f"bad instrument symbols {bad}")
        return v

    @field_validator("health")
    @classmethod
    def _health_rows(cls, v: dict[HealthLevel, HealthRow]) -> dict[HealthLevel, HealthRow]:
        want = {HealthLevel.GREEN, HealthLevel.YELLOW, HealthLevel.ORANGE}
        if set(v) != want:
            raise ValueError(
                f"health needs rows for exactly {sorted(want)} (RED always skips), got {sorted(v)}"
            )
        return v

    @model_validator(mode="after")
    def _relations(self) -> StrategyConfig:
        if self.margin_per_position_usdt > self.margin_budget_usdt:
            raise ValueError(
                f"margin_per_position_usdt ({self.margin_per_position_usdt}) exceeds "
                f"margin_budget_usdt ({self.margin_budget_usdt}): no entry could ever pass the gate"
            )
        for amount in (self.margin_per_position_usdt, self.margin_budget_usdt):
            if amount != amount.quantize(Decimal("0.000001")):
                raise ValueError(
                    f"margin {amount} USDT has more than 6 decimals (the gate counts micro-USDT)"
                )
        # parse and check every rule here, so a bad rule fails the load with its name in the error
        check_rules(self.rules)
        return self

    def model_post_init(self, _context: Any) -> None:
        self._ruleset = RuleSet(self.rules)

    @property
    def ruleset(self) -> RuleSet:
        return self._ruleset

    @cached_property
    def canonical_json(self) -> str:
        """Sorted keys, no spaces, Decimals in plain normalised form ("0.001", "100")."""

        def default(o: object) -> str:
            if isinstance(o, Decimal):
                return format(o.normalize(), "f")
            raise TypeError(f"cannot encode {type(o).__name__}")

        return json.dumps(
            self.model_dump(mode="python"),
            sort_keys=True,
            separators=(",", ":"),
            default=default,
            allow_nan=False,
        )

    @cached_property
    def rev(self) -> str:
        return stable_hash("strategy", self.canonical_json)
