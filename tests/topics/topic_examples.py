"""Factories of valid messages, one or more per declared topic, built the way their producers would
(ids from chimera.model's derivations, money as Decimal)."""

from __future__ import annotations

from decimal import Decimal as D

from pydantic import BaseModel

from chimera.model import (
    Market,
    OrderStatus,
    OrderType,
    Side,
    Symbol,
    TimeInForce,
    client_order_id_for,
    intent_id_for,
    signal_id_for,
)
from topics.market import FundingEvent, MarketBatch
from topics.ops import Alert, ConfigEvent, LabelsReady, MetricEvent, OpsEvent
from topics.trading import (
    BookTop,
    CancelIntent,
    Decision,
    FeatureEvent,
    Fill,
    OrderIntent,
    OrderResult,
    PositionEvent,
)

SYM = Symbol("BTCUSDT")
T0 = 1_640_995_200_000  # 2022-01-01T00:00Z
SIGNAL = signal_id_for(SYM, T0, "rev-7")
INTENT = intent_id_for(SIGNAL, "entry")
CLIENT_ID = client_order_id_for(INTENT, 0)
NAN = float("nan")


def market_batch(market: Market = Market.FUT, closed_ts: int | None = None) -> MarketBatch:
    """v1 (as recorded before S1 stamped its close), or v2 closed at ``closed_ts``."""
    return MarketBatch(
        v=1 if closed_ts is None else 2,
        closed_ts=closed_ts,
        symbol=SYM,
        market=market,
        seq=0,
        first_ts=T0,
        last_ts=T0 + 5,
        ts=[T0, T0 + 5],
        kind=["t", "q"],
        price=[46_216.93, NAN],
        qty=[0.004, 0.0],
        side=[1, 0],
        bid=[NAN, 46_216.9],
        ask=[NAN, 46_217.0],
    )


def funding() -> FundingEvent:
    return FundingEvent(
        symbol=SYM, funding_time=T0, rate=D("0.00010000"), mark_price=D("46216.93"), ts=T0 + 3
    )


def feature_event() -> FeatureEvent:
    features: dict[str, float | int | None] = {"close": 46_216.93, "n_ticks": 4, "atr": None, "rv": 0.61}
    return FeatureEvent(
        signal_id=SIGNAL, t0=T0, symbol=SYM, features=features, dqc=["WARMUP"], config_rev="rev-7"
    )


def decision(action: str = "open") -> Decision:
    return Decision.model_validate(
        {
            "signal_id": SIGNAL,
            "symbol": SYM,
            "ts": T0,
            "action": action,
            "side": "BUY" if action == "open" else None,
            "size_mult": 1.0 if action == "open" else 0.0,
            "sl_mult": 1.5,
            "tp_mult": 3.0,
            "max_adds_override": 1,
            "reason": "RULE_TREND" if action == "open" else "RISK_BUDGET",
            "model_p": 0.62 if action == "open" else None,
            "regime": "NORMAL",
            "config_rev": "rev-7",
        }
    )


def entry_intent() -> OrderIntent:
    return OrderIntent(
        intent_id=INTENT,
        signal_id=SIGNAL,
        symbol=SYM,
        market=Market.FUT,
        side=Side.BUY,
        qty=D("0.015"),
        exec="maker_taker",
        limit_price=D("46216.9"),
        worst_price=D("46300"),
        maker_wait_ms=1_500,
        ts=T0,
        source="strategy",
        reason="ENTRY",
    )


def sl_tp_intent() -> OrderIntent:
    return OrderIntent(
        intent_id=intent_id_for(SIGNAL, "sl_tp"),
        signal_id=SIGNAL,
        pos_id="pos-1",
        symbol=SYM,
        market=Market.FUT,
        side=Side.SELL,
        qty=D("0.015"),
        exec="sl_tp",
        reduce_only=True,
        sl_price=D("45500"),
        tp_price=D("47600.5"),
        ts=T0 + 200,
        source="positions",
    )


def spot_oco_intent() -> OrderIntent:
    return OrderIntent(
        intent_id=intent_id_for(SIGNAL, "spot"),
        symbol=SYM,
        market=Market.SPOT,
        side=Side.BUY,
        qty=D("0.01"),
        exec="oco",
        sl_price=D("45000"),
        sl_limit_price=D("44990"),
        tp_price=D("48000"),
        ts=T0,
        source="strategy",
    )


def twap_intent() -> OrderIntent:
    return OrderIntent(
        intent_id=intent_id_for(SIGNAL, "twap"),
        symbol=SYM,
        market=Market.FUT,
        side=Side.SELL,
        qty=D("1.2"),
        exec="twap",
        reduce_only=True,
        twap_slices=6,
        twap_interval_ms=10_000,
        max_slippage_bps=8.0,
        ts=T0,
        source="reconciler",
        reason="DERISK",
    )


def cancel_intent() -> CancelIntent:
    return CancelIntent(
        intent_id=intent_id_for(INTENT, "cancel"),
        target_intent_id=INTENT,
        client_order_id=CLIENT_ID,
        symbol=SYM,
        market=Market.FUT,
        flatten=True,
        ts=T0 + 9,
        source="gateway",
    )


def order_result(version: int = 1) -> OrderResult:
    fill = Fill(
        trade_id="t-881",
        price=D("46217.0"),
        qty=D("0.015"),
        fee=D("0.27730200"),
        fee_asset="USDT",
        is_maker=False,
        slippage_bps=0.11,
        ts=T0 + 12,
    )
    book = BookTop(
        bid_px=[D("46216.9"), D("46216.5")],
        bid_qty=[D("1.2"), D("0.3")],
        ask_px=[D("46217.0"), D("46217.4")],
        ask_qty=[D("0.8"), D("2")],
    )
    return OrderResult(
        intent_id=INTENT,
        client_order_id=CLIENT_ID,
        order_id="8389765519",
        version=version,
        signal_id=SIGNAL,
        symbol=SYM,
        market=Market.FUT,
        status=OrderStatus.FILLED,
        side=Side.BUY,
        type=OrderType.MARKET,
        time_in_force=TimeInForce.GTC,
        qty=D("0.015"),
        filled_qty=D("0.015"),
        avg_price=D("46217.0"),
        fee=D("0.27730200"),
        fee_asset="USDT",
        fills=[fill],
        mid_at_send=D("46216.95"),
        book_at_send=book,
        ts=T0 + 12,
    )


def rejected_result() -> OrderResult:
    return OrderResult(
        intent_id=INTENT,
        client_order_id=CLIENT_ID,
        version=0,
        symbol=SYM,
        market=Market.FUT,
        status=OrderStatus.REJECTED,
        side=Side.BUY,
        type=OrderType.LIMIT,
        qty=D("0.015"),
        price=D("46216.9"),
        filled_qty=D("0"),
        fee=D("0"),
        reason="Order would immediately match and take (-5022)",
        ts=T0 + 3,
    )


def position_event(kind: str = "OPEN") -> PositionEvent:
    exit_ = kind == "EXIT"
    return PositionEvent.model_validate(
        {
            "kind": kind,
            "pos_id": "pos-1",
            "seq": 0 if kind == "OPEN" else 3,
            "signal_id": SIGNAL,
            "symbol": SYM,
            "market": "FUT",
            "side": "BUY",
            "qty": D("0") if exit_ else D("0.015"),
            "entry_price": D("46217.0"),
            "mark_price": D("46300.1"),
            "fill_qty": None if kind == "STAGNATED" else D("0.015"),
            "fill_price": None if kind == "STAGNATED" else D("46217.0") if kind == "OPEN" else D("47600.5"),
            "margin": D("0") if exit_ else D("69.33"),
            "unrealized_pnl": None if exit_ else D("1.2465"),
            "realized_pnl": D("20.17") if exit_ else D("-0.2773"),
            "fees_paid": D("0.5631") if exit_ else D("0.2773"),
            "funding_paid": D("0.0069"),
            "sl_price": D("45500"),
            "tp_level": 2 if exit_ else 0,
            "opened_ts": T0 + 12,
            "ts": T0 + 3_600_000,
            "reason": "TP_2" if exit_ else None,
        }
    )


def labels_ready() -> LabelsReady:
    return LabelsReady(
        signal_id=SIGNAL,
        horizon_h=24,
        symbol=SYM,
        market=Market.FUT,
        side=Side.BUY,
        pos_id="pos-1",
        t0=T0,
        t_end=T0 + 24 * 3_600_000,
        roi_net=D("0.0123400000"),
        label=1,
        ts=T0 + 24 * 3_600_000 + 60_000,
    )


def config_event() -> ConfigEvent:
    return ConfigEvent(
        bundle_id="trend-v3",
        rev="rev-8",
        previous_rev="rev-7",
        stage="canary",
        ramp_pct=0.1,
        promotion_id="promo-12",
        actor="alice",
        ts=T0,
    )


def ops_event() -> OpsEvent:
    return OpsEvent(
        event_id="xfer-77:DONE",
        kind="TRANSFER_DONE",
        source="connectors",
        actor="bob",
        subject="xfer-77",
        detail={"asset": "USDT", "amount": "250.00", "from": "SPOT", "to": "FUT", "auto": False, "tries": 1},
        ts=T0,
    )


def metric_event() -> MetricEvent:
    return MetricEvent(
        service="connectors",
        name="s1.ws_rtt",
        value=12.5,
        kind="timer",
        tags={"symbol": "BTCUSDT", "venue": "binance"},
        ts=T0,
    )


def alert() -> Alert:
    return Alert(
        alert_id="recon-1640995200000",
        level="ERROR",
        source="reconciler",
        kind="RECONCILE_MISMATCH",
        message="position qty 0.015 on the venue, 0.010 in our book",
        symbol=SYM,
        health_level="ORANGE",
        ts=T0,
    )


def examples() -> dict[str, list[BaseModel]]:
    """Valid messages per logical topic: every declared topic has at least one."""
    return {
        "mkt.spot": [market_batch(Market.SPOT)],
        "mkt.perp": [market_batch(Market.FUT), market_batch(Market.FUT, closed_ts=T0 + 100)],
        "mkt.funding": [funding()],
        "feat.events": [feature_event()],
        "sig.events": [decision("open"), decision("skip")],
        "ord.intents": [entry_intent(), sl_tp_intent(), spot_oco_intent(), twap_intent(), cancel_intent()],
        "ord.results": [order_result(), rejected_result()],
        "pos.events": [position_event(k) for k in ("OPEN", "ADD", "PARTIAL_EXIT", "EXIT", "STAGNATED")],
        "labels.ready": [labels_ready()],
        "cfg.events": [config_event()],
        "ops.events": [ops_event()],
        "metrics.events": [metric_event()],
        "alerts": [alert()],
    }
