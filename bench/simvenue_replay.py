"""Throughput of the SimVenue core on the real BTC month (45,031 one-minute perp bars replayed as
180,124 ticks) with a small strategy: every 240 ticks a market entry with a reduce-only
take-profit limit and a stop-market, a GTX bid left resting, funding every 8 h.

Figures: ticks/s through ``SimExchange`` (feed + matching), orders, fills, funding payments,
final FUT wallet. Run: ``.venv/bin/python bench/simvenue_replay.py``; the last line is JSON.
"""

from __future__ import annotations

import json
import sys
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agents.connectors.marketdata import MarketEvent
from agents.connectors.port import OrderRejected, OrderRequest
from agents.connectors.recordings.bars import load_bar_csv
from agents.connectors.simvenue import SimExchange, SimVenueConfig
from agents.connectors.simvenue.feed import apply
from chimera.model import ClientOrderId, Market, OrderType, Side, Symbol, TimeInForce, round_to_step

BARS = Path(__file__).resolve().parents[1] / "data" / "nautilus" / "btc-perp-20211231-20220201_1m.csv"
SYM = Symbol("BTCUSDT")
TICK = Decimal("0.1")
H8 = 8 * 3_600_000


def config() -> SimVenueConfig:
    return SimVenueConfig(
        instruments=[
            {
                "symbol": SYM,
                "market": "FUT",
                "base": "BTC",
                "tick_size": "0.1",
                "lot_size": "0.001",
                "min_qty": "0.001",
                "min_notional": "5",
            },
        ],
        latency_ms=20,
        leverage={SYM: 5},
        initial_balances={Market.FUT: {"USDT": Decimal("100000")}},
    )


def req(cid: str, side: Side, type_: OrderType, qty: str, **kw: object) -> OrderRequest:
    return OrderRequest(SYM, Market.FUT, side, type_, Decimal(qty), ClientOrderId(cid), **kw)  # type: ignore[arg-type]


def run(ticks: list[MarketEvent]) -> tuple[float, dict[str, object]]:
    ex = SimExchange(config())
    orders = fills = refused = 0
    start = time.perf_counter()
    for i, tick in enumerate(ticks):
        if i % 60 == 0:  # a funding rate ahead of each settlement, flipping sign
            t = (tick.ts // H8 + 1) * H8
            ex.on_funding_rate(SYM, tick.ts, Decimal("0.0001") if (t // H8) % 2 else Decimal("-0.00005"), t)
        fills += sum(1 for e in apply(ex, tick) if hasattr(e, "trade_id"))
        side = Side.BUY if (i // 240) % 2 == 0 else Side.SELL
        px = tick.price or Decimal(1)
        if i % 240 == 0:
            bid = round_to_step(px * Decimal("0.99"), TICK)
            batch = [
                req(f"e{i}", side, OrderType.MARKET, "0.01"),
                req(f"g{i}", Side.BUY, OrderType.LIMIT, "0.002", price=bid, time_in_force=TimeInForce.GTX),
            ]
        elif i % 240 == 1:  # the entry is live by now (latency 20 ms, ticks 15 s apart)
            tp = round_to_step(px * (Decimal("1.004") if side is Side.BUY else Decimal("0.996")), TICK)
            sl = round_to_step(px * (Decimal("0.994") if side is Side.BUY else Decimal("1.006")), TICK)
            batch = [
                req(f"t{i}", side.opposite(), OrderType.LIMIT, "0.01", price=tp, reduce_only=True),
                req(f"s{i}", side.opposite(), OrderType.STOP_MARKET, "0.01", stop_price=sl, reduce_only=True),
            ]
        else:
            batch = []
        if batch:
            for r in batch:
                try:
                    ex.submit(r)
                    orders += 1
                except OrderRejected:
                    refused += 1  # reduce-only when the position is already flat or on the other side
            fills += sum(1 for e in ex.drain() if hasattr(e, "trade_id"))
    elapsed = time.perf_counter() - start
    bal = ex.balances(Market.FUT)["USDT"]
    return elapsed, {
        "orders": orders,
        "refused": refused,
        "fills": fills,
        "funding_payments": len(ex.funding_payments()),
        "open_orders": len(ex.open_orders(Market.FUT)),
        "fut_usdt_total": str(bal.total),
    }


def main() -> None:
    ticks = [r for r in load_bar_csv(BARS, SYM, Market.FUT) if isinstance(r, MarketEvent)]
    elapsed, figures = run(ticks)
    elapsed2, again = run(ticks)
    out = {
        "ticks": len(ticks),
        "seconds": round(min(elapsed, elapsed2), 3),
        "ticks_per_s": round(len(ticks) / min(elapsed, elapsed2)),
        "deterministic": figures == again,
        **figures,
    }
    for k, v in out.items():
        print(f"{k:>18}: {v}")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
