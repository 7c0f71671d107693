"""Feed recorded or live market records (``agents.connectors.marketdata``) into a SimExchange.

Bar ticks count as trades (the loader already turned each bar into its four prices); quotes and
books replace the book; mark ticks move the mark; funding events give the rate of a settlement.
Malformed records are not market data and change nothing.
"""

from __future__ import annotations

from agents.connectors.marketdata import Malformed, MarketEvent
from agents.connectors.simvenue.engine import SimEvent
from agents.connectors.simvenue.exchange import SimExchange
from chimera.model import Market, Side
from topics.market import FundingEvent

Record = MarketEvent | FundingEvent | Malformed


def apply(ex: SimExchange, record: Record) -> list[SimEvent]:
    """Apply one record; return what it made happen."""
    if isinstance(record, Malformed):
        return []
    if isinstance(record, FundingEvent):
        return ex.on_funding_rate(
            record.symbol, record.ts, record.rate, record.funding_time, record.mark_price
        )
    ev = record
    if ev.kind in ("t", "k"):
        if ev.price is None or ev.qty is None:
            raise ValueError(f"{ev.symbol} {ev.kind} tick at {ev.ts} has no price or qty")
        side = Side.BUY if ev.side > 0 else Side.SELL if ev.side < 0 else None
        return ex.on_trade(ev.symbol, ev.market, ev.ts, ev.price, ev.qty, side)
    if ev.kind == "m":
        if ev.mark is None or ev.market is not Market.FUT:
            raise ValueError(f"{ev.symbol} mark tick at {ev.ts} needs a FUT market and a mark")
        return ex.on_mark_price(ev.symbol, ev.ts, ev.mark)
    if ev.bids or ev.asks:
        return ex.on_quote(ev.symbol, ev.market, ev.ts, ev.bids, ev.asks)
    bids = [(ev.bid, ev.bid_qty)] if ev.bid is not None and ev.bid_qty is not None else []
    asks = [(ev.ask, ev.ask_qty)] if ev.ask is not None and ev.ask_qty is not None else []
    return ex.on_quote(ev.symbol, ev.market, ev.ts, bids, asks)
