"""Test kit for SimVenue: a config factory, an order factory and real trades from the repo's data."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from agents.connectors.port import OrderRequest
from agents.connectors.simvenue import SimExchange, SimVenueConfig
from chimera.model import ClientOrderId, Market, OrderType, Side, Symbol, TimeInForce

D = Decimal
REPO = Path(__file__).resolve().parents[3]
TRADES_FILE = REPO / "data" / "nautilus" / "btcusdt-trades.parquet"
BTC = "BTCUSDT"

SPOT_BTC = {
    "symbol": BTC,
    "market": "SPOT",
    "base": "BTC",
    "tick_size": "0.01",
    "lot_size": "0.000001",
    "min_qty": "0.00001",
    "min_notional": "5",
}
FUT_BTC = {
    "symbol": BTC,
    "market": "FUT",
    "base": "BTC",
    "tick_size": "0.1",
    "lot_size": "0.001",
    "min_qty": "0.001",
    "min_notional": "5",
}


def make_config(**overrides: Any) -> SimVenueConfig:
    """10,000 USDT + 1 BTC on SPOT, 10,000 USDT on FUT, BTCUSDT on both markets, no latency."""
    fields: dict[str, Any] = {
        "instruments": [SPOT_BTC, FUT_BTC],
        "initial_balances": {"SPOT": {"USDT": "10000", "BTC": "1"}, "FUT": {"USDT": "10000"}},
    }
    fields.update(overrides)
    return SimVenueConfig(**fields)


def make_exchange(**overrides: Any) -> SimExchange:
    return SimExchange(make_config(**overrides))


def order(
    cid: str,
    side: str,
    type_: str,
    qty: str | None,
    market: str = "SPOT",
    price: str | None = None,
    stop: str | None = None,
    tif: str | None = None,
    reduce_only: bool = False,
    close_position: bool = False,
) -> OrderRequest:
    return OrderRequest(
        symbol=Symbol(BTC),
        market=Market(market),
        side=Side(side),
        type=OrderType(type_),
        qty=None if qty is None else D(qty),
        client_order_id=ClientOrderId(cid),
        price=None if price is None else D(price),
        stop_price=None if stop is None else D(stop),
        time_in_force=None if tif is None else TimeInForce(tif),
        reduce_only=reduce_only,
        close_position=close_position,
    )


def real_trades(n: int) -> list[tuple[int, Decimal, Decimal]]:
    """The first ``n`` Binance BTCUSDT spot trades of 2021-01-08 as (ts ms, price, qty).

    The file stores floats; the venue's precisions (price 0.01, size 0.000001) make them exact.
    """
    if not TRADES_FILE.exists():
        pytest.fail(f"missing recorded trades: {TRADES_FILE}")
    frame = pd.read_parquet(TRADES_FILE).head(n)
    return [
        (int(ts.value // 1_000_000), D(repr(price)).quantize(D("0.01")), D(repr(qty)).quantize(D("0.000001")))
        for ts, price, qty in zip(frame["timestamp"], frame["price"], frame["quantity"], strict=True)
    ]


def scripted_run(n_trades: int = 300) -> str:
    """Replay real trades into SPOT and FUT with orders of every kind; return everything observable.

    Used to show determinism: the text must be identical run after run, process after process.
    """
    from chimera.model import round_to_step

    ex = make_exchange(latency_ms=50)
    log: list[object] = []
    ex.on_funding_rate(BTC, 1610064000000, D("0.0001"), 1610092800000)
    for i, (ts, price, qty) in enumerate(real_trades(n_trades)):
        log += ex.on_trade(BTC, Market.SPOT, ts, price, qty)
        log += ex.on_trade(BTC, Market.FUT, ts, price, qty)
        if i % 25 == 0:
            side = "BUY" if i % 50 == 0 else "SELL"
            spot_px = round_to_step(price - D("0.02") * (1 if side == "BUY" else -1), D("0.01"))
            fut_px = round_to_step(price, D("0.1"), "down" if side == "BUY" else "up")
            log.append(ex.submit(order(f"s{i}", side, "LIMIT", "0.002", price=str(spot_px))))
            log.append(ex.submit(order(f"f{i}", side, "LIMIT", "0.003", market="FUT", price=str(fut_px))))
            log.append(ex.submit(order(f"m{i}", "BUY", "MARKET", "0.001", market="FUT")))
    log += ex.advance(1610092800000)  # 08:00 UTC: funding on what is left open
    log.append(ex.balances(Market.SPOT))
    log.append(ex.balances(Market.FUT))
    log.append(ex.positions())
    log.append(ex.open_orders(Market.SPOT) + ex.open_orders(Market.FUT))
    return "\n".join(repr(x) for x in log)
