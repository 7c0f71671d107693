"""What a backtest run is configured with besides its bundle, and what the engine derives from the
bundle for the services that bundles do not configure yet (SimVenue, S6's position policy).

Choices, each a knob here:
- ``batch_window_ms`` is S1's *live* window (``Settings.mkt_batch_window_ms``), closed by an
  event-time timer as S1's live loop closes quiet batches: a bar's feature event then reaches S3
  as soon as the next bar's first tick exists. The replay window (60 s) would hold every decision
  back by one bar; a Kafka replay meant to match this engine must use the same window.
- ``health`` GREEN: no S11 runs in a backtest; trading the bundle as configured means GREEN
  (None leaves the key unset, and the bundle's ``health_default`` applies).
- the regime comes from S2's daily job logic (``regime_record``) over the closes seen so far,
  with a shorter history than production's (5 prior days): recordings are weeks, not quarters.
  ``regime`` pins one label instead (short slices in tests, what-if runs).
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from agents.config.bundle import Bundle
from agents.connectors.simvenue import SimVenueConfig
from agents.features.config import RegimeConfig
from agents.positions.config import PositionConfig
from agents.positions.policy import policy_for
from agents.strategy.context import HealthLevel
from chimera.model import Market

RegimeName = Literal["FROZEN", "NORMAL", "EXTREME"]
QUOTES = ("USDT", "USDC", "BUSD")


def new_run_id() -> str:
    return uuid.uuid4().hex[:10]


class EngineConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    run_id: str = Field(default_factory=new_run_id, pattern=r"^[a-z0-9_]{1,40}$")
    batch_window_ms: int = Field(100, ge=0, description="S1's micro-batch window, event time")
    batch_max_ticks: int = Field(256, ge=1)
    book_levels: int = Field(5, ge=1)
    coalesce_s2: bool = Field(True, description="S2 once per bar, same events (engine/coalesce.py)")
    initial_usdt: Decimal = Field(Decimal(10_000), gt=0, description="per wallet (FUT, and SPOT if traded)")
    latency_ms: int = Field(0, ge=0, description="SimVenue: submission -> order live, event time")
    funding_rate_grace_ms: int = Field(60_000, ge=0, description="SimVenue: a settlement waits for its rate")
    health: HealthLevel | None = HealthLevel.GREEN
    regime: RegimeName | None = Field(None, description="pin the regime; None: S2's daily job logic")
    regime_config: RegimeConfig = RegimeConfig(lookback_days=30, min_history=5)
    regime_symbol: str | None = Field(None, description="whose closes rank the day; None: the bundle's first")
    flatten_at_end: bool = Field(True, description="close open positions at market after the last record")
    positions: PositionConfig | None = Field(None, description="S6's policy; None: positions_for(bundle)")
    sink_batch_rows: int = Field(5_000, ge=1)
    # a run is a batch job: rows go in batches of sink_batch_rows and at the end (a chdb insert
    # costs ~40 ms whatever its size); the age limit (wall clock) only bounds a slow run's lag
    sink_flush_ms: int = Field(60_000, ge=1)
    # the router re-reads kill switch / health / params on submits and due slices anyway; between
    # them nothing else writes this run's keys, so ticks need not ask Redis every 250 ms of event time
    router_ctx_refresh_ms: int = Field(3_600_000, ge=1)
    router_queue_refresh_ms: int = Field(3_600_000, ge=1)

    @property
    def key_prefix(self) -> str:
        """This run's own Redis keyspace (DESIGN §3: replays never touch live state)."""
        return f"bt.{self.run_id}."


def positions_for(bundle: Bundle) -> PositionConfig:
    """S6's policy for a bundle: its ``positions`` section, as the S6 agent runs it, else the
    agent's derived policy (:func:`agents.positions.policy.policy_for`: the strategy's leverage and
    lease, first stop at ``sl_atr``, final take-profit at ``tp_atr``, break-even at 1.5 ATR, a
    stagnant position closed after 12 h) with one difference: a closed position is kept 10 minutes,
    not S6's 24 h. That margin is for results arriving late over Kafka; here each result arrives at
    once, while every tick walks every position kept (~50 a day on 1-min bars)."""
    if bundle.positions is not None:
        return bundle.positions
    return policy_for(bundle.strategy).model_copy(update={"closed_retention_ms": 600_000})


def _base(symbol: str) -> tuple[str, str]:
    for quote in QUOTES:
        if symbol.endswith(quote) and len(symbol) > len(quote):
            return symbol[: -len(quote)], quote
    raise ValueError(f"{symbol}: cannot tell base and quote (expected a symbol ending in {QUOTES})")


def venue_config(bundle: Bundle, cfg: EngineConfig) -> SimVenueConfig:
    """SimVenue with the bundle's instruments (its filters, Binance's default fees), the
    strategy's leverage, ``initial_usdt`` in each wallet that trades, and funding paid at each
    settlement's own recorded rate."""
    instruments = []
    markets = set()
    for symbol, spec in bundle.strategy.instruments.items():
        base, quote = _base(symbol)
        markets.add(spec.market)
        instruments.append(
            {
                "symbol": symbol,
                "market": spec.market,
                "base": base,
                "quote": quote,
                "tick_size": spec.tick_size,
                "lot_size": spec.lot_size,
                "min_qty": spec.min_qty,
                "min_notional": spec.min_notional,
            }
        )
    balances = {m: {"USDT": cfg.initial_usdt} for m in sorted(markets)}
    return SimVenueConfig(
        instruments=tuple(instruments),
        latency_ms=cfg.latency_ms,
        default_leverage=bundle.strategy.leverage,
        initial_balances=balances,
        funding_rate_grace_ms=cfg.funding_rate_grace_ms,
    )


def fut_symbols(bundle: Bundle) -> list[str]:
    return [s for s, spec in bundle.strategy.instruments.items() if spec.market is Market.FUT]
