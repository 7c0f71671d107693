"""S6's policy as one immutable value per active bundle: the :class:`PositionConfig` (trailing
ladder, take-profit ladder, add-on limits, treasury rule, …) and each FUT instrument's context.

Read-copy-update (as :mod:`agents.config.active` does for S3): the agent reads the active bundle
ONCE per event and takes the policy built for that rev, so one management tick runs on one config
from its first rule to its last; a reload builds the next policy beside it and swaps one
reference. A symbol the new bundle drops is still managed, with its old instrument filters and
the new config, so a position open in it keeps its stop.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from agents.config.active import ActiveBundle
from agents.connectors.port import Instrument
from agents.connectors.simvenue.config import DEFAULT_FEES
from agents.positions.config import PositionConfig, Stagnation, TpRung, TrailStep
from agents.positions.context import Ctx
from agents.strategy.config import StrategyConfig
from chimera.model import Market, Symbol


def policy_for(strategy: StrategyConfig) -> PositionConfig:
    """S6's policy for a bundle without a ``positions`` section, as the in-process engine derives
    it: the strategy's leverage and lease (the gate reserved qty·price/leverage), the first stop at
    the bundle's ``sl_atr``, the final take-profit at its ``tp_atr``, the stop to break-even 1.5 ATR
    in profit, a position that has not moved 2% ROE in 12 h closed. Unlike the engine, a closed
    position is kept S6's default 24 h: over Kafka its results can come again after a restart, as
    late as the group's last commit, and a position forgotten by then would be opened again by its
    entry's fill (a test compares the two policies)."""
    return PositionConfig(
        leverage=strategy.leverage,
        unit="atr",
        initial_sl_atr=Decimal(repr(strategy.stops.sl_atr)),
        trail=(TrailStep(trigger=Decimal("1.5"), lock=Decimal(0)),),
        tp=(TpRung(trigger=Decimal(repr(strategy.stops.tp_atr)), fraction=Decimal(1)),),
        stagnation=Stagnation(),
        gate_lease_ttl_ms=strategy.gate_lease_ttl_ms,
        gate_renew_every_ms=min(3_600_000, strategy.gate_lease_ttl_ms // 2),
    )


def fut_instruments(strategy: StrategyConfig) -> dict[str, Instrument]:
    """The bundle's FUT instruments, with the fees the paper venue charges (S6 rounds to their grid)."""
    maker, taker = DEFAULT_FEES[Market.FUT]
    out = {}
    for symbol, spec in strategy.instruments.items():
        if spec.market is not Market.FUT:
            continue
        out[symbol] = Instrument(
            symbol=Symbol(symbol),
            market=Market.FUT,
            base=symbol.removesuffix("USDT"),
            quote="USDT",
            tick_size=spec.tick_size,
            lot_size=spec.lot_size,
            min_qty=spec.min_qty,
            min_notional=spec.min_notional,
            maker_fee=maker,
            taker_fee=taker,
        )
    return out


@dataclass(frozen=True, slots=True)
class Policy:
    rev: str  # the bundle's rev (or the config's, for a fixed policy)
    cfg: PositionConfig
    ctxs: Mapping[str, Ctx]

    @classmethod
    def fixed(cls, cfg: PositionConfig, instruments: Mapping[str, Instrument]) -> Policy:
        return cls(cfg.rev, cfg, {s: Ctx(cfg, inst) for s, inst in instruments.items()})

    @classmethod
    def of(cls, active: ActiveBundle, before: Policy | None = None) -> Policy:
        """The policy of an active bundle: its ``positions`` section, else :func:`policy_for`."""
        cfg = active.positions or policy_for(active.strategy)
        instruments = fut_instruments(active.strategy)
        kept = {} if before is None else {s: c.instrument for s, c in before.ctxs.items()}
        return cls(active.rev, cfg, {s: Ctx(cfg, inst) for s, inst in {**kept, **instruments}.items()})

    def ctx(self, symbol: str) -> Ctx:
        try:
            return self.ctxs[symbol]
        except KeyError:
            raise ValueError(f"{symbol}: no instrument data; S6 cannot round its orders") from None

    def manages(self, symbol: str) -> bool:
        return symbol in self.ctxs
