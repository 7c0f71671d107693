"""The SimVenue configuration: instruments, fees, latency, leverage, margin, balances, slippage."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from agents.connectors.port import Instrument
from chimera.model import Market, Symbol, to_decimal

# Binance's default rates (VIP 0, no BNB discount)
DEFAULT_FEES: dict[Market, tuple[Decimal, Decimal]] = {
    Market.SPOT: (Decimal("0.001"), Decimal("0.001")),
    Market.FUT: (Decimal("0.0002"), Decimal("0.0004")),
}
EIGHT_HOURS_MS = 8 * 3_600_000


def _exact(value: Any) -> Any:
    """Take numbers exactly: strings, ints and Decimals; floats via their shortest repr."""
    if value is None or isinstance(value, dict):
        return value
    return to_decimal(value)


class InstrumentSpec(BaseModel):
    """One tradable instrument; fees left unset take the market's defaults."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    symbol: str = Field(min_length=1)
    market: Market
    base: str = Field(min_length=1)
    quote: str = "USDT"
    tick_size: Decimal = Field(gt=0)
    lot_size: Decimal = Field(gt=0)
    min_qty: Decimal = Field(Decimal(0), ge=0)
    min_notional: Decimal = Field(Decimal(0), ge=0)
    maker_fee: Decimal | None = Field(None, ge=0, lt=1)
    taker_fee: Decimal | None = Field(None, ge=0, lt=1)

    _exact_numbers = field_validator(
        "tick_size", "lot_size", "min_qty", "min_notional", "maker_fee", "taker_fee", mode="before"
    )(_exact)


class SimVenueConfig(BaseModel):
    """Frozen, validated settings of one paper exchange; unknown fields are an error."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    instruments: tuple[InstrumentSpec, ...] = Field(min_length=1)
    latency_ms: int = Field(0, ge=0, description="submission → order live, in event time")
    default_leverage: int = Field(10, ge=1, le=125)
    leverage: dict[str, int] = Field(default_factory=dict, description="per FUT symbol")
    maintenance_margin_rate: Decimal = Field(Decimal("0.005"), ge=0, lt=1)
    initial_balances: dict[Market, dict[str, Decimal]] = Field(default_factory=dict)
    market_slippage: Decimal = Field(
        Decimal("0.0005"), ge=0, lt=1, description="market orders with no book: last trade ± this fraction"
    )
    funding_interval_ms: int = Field(EIGHT_HOURS_MS, gt=0, description="settlements at multiples of this")
    # recordings stamp the rate of settlement T a few ms after T; a replay sets this so T pays its own rate
    funding_rate_grace_ms: int = Field(
        0, ge=0, description="a settlement waits this long for the rate published for its own time"
    )

    _exact_numbers = field_validator("maintenance_margin_rate", "market_slippage", mode="before")(_exact)

    @field_validator("initial_balances", mode="before")
    @classmethod
    def _exact_balances(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        return {m: {a: to_decimal(v) for a, v in assets.items()} for m, assets in value.items()}

    @model_validator(mode="after")
    def _consistent(self) -> SimVenueConfig:
        keys = [(i.market, i.symbol) for i in self.instruments]
        dup = sorted({f"{m}:{s}" for m, s in keys if keys.count((m, s)) > 1})
        if dup:
            raise ValueError(f"instrument listed twice: {', '.join(dup)}")
        futures = {s for m, s in keys if m is Market.FUT}
        for symbol, lev in self.leverage.items():
            if symbol not in futures:
                raise ValueError(f"leverage given for {symbol!r}, which is not a FUT instrument")
            if not 1 <= lev <= 125:
                raise ValueError(f"leverage for {symbol!r} must be within 1..125, got {lev}")
        for market, assets in self.initial_balances.items():
            for asset, amount in assets.items():
                if amount < 0:
                    raise ValueError(f"initial balance {market}:{asset} is negative: {amount}")
        return self

    def instrument_list(self) -> list[Instrument]:
        out = []
        for spec in self.instruments:
            maker, taker = DEFAULT_FEES[spec.market]
            out.append(
                Instrument(
                    symbol=Symbol(spec.symbol),
                    market=spec.market,
                    base=spec.base,
                    quote=spec.quote,
                    tick_size=spec.tick_size,
                    lot_size=spec.lot_size,
                    min_qty=spec.min_qty,
                    min_notional=spec.min_notional,
                    maker_fee=maker if spec.maker_fee is None else spec.maker_fee,
                    taker_fee=taker if spec.taker_fee is None else spec.taker_fee,
                )
            )
        return out

    def leverage_for(self, symbol: str) -> int:
        return self.leverage.get(symbol, self.default_leverage)
