"""SimVenue: a deterministic paper exchange (spot + USDT-M perpetuals) driven by event time.

``SimExchange`` is the pure, synchronous core; ``SimVenue`` puts the async ``Venue`` port on it;
``feed.apply`` feeds it the records of ``agents.connectors.recordings`` / ``marketdata``.

Choices (and where they differ from Binance):
- time is the last market event's ``ts``; an order goes live on its instrument's first event at
  or after submission + ``latency_ms``; cancels act at once.
- MARKET takes the book level by level (consuming it until the next quote), or, with no book,
  the last trade moved by ``market_slippage``. Resting limits fill only on trades printing at or
  through their price, at their own price, as maker, sharing the printed quantity in submission
  order; quotes never fill resting orders.
- post-only: spot LIMIT_MAKER that would take → REJECTED (-2010); futures GTX → EXPIRED.
- stops trigger on the last trade price; an OCO leg that fills (even partly) or triggers ends the
  other leg as EXPIRED (what Binance reports for the leg a list closes).
- futures: one-way, isolated margin per position in the FUT wallet's locked USDT; amounts and
  entry prices to 8 decimals half-even; liquidation at the isolated price when the mark reaches
  it (margin lost, no fee); funding at multiples of 8 h (00/08/16 UTC) in the FUT free balance.
- spot buys reserve price·(1 + max fee) of quote; fees are charged in the quote asset.
"""

from agents.connectors.simvenue.config import InstrumentSpec, SimVenueConfig
from agents.connectors.simvenue.engine import SimEvent
from agents.connectors.simvenue.exchange import SimExchange
from agents.connectors.simvenue.funding import FundingPayment
from agents.connectors.simvenue.venue import SimVenue

__all__ = ["FundingPayment", "InstrumentSpec", "SimEvent", "SimExchange", "SimVenue", "SimVenueConfig"]
