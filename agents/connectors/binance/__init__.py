"""Binance adapter: the venue port over ccxt's real ``binance`` / ``binanceusdm`` classes."""

from agents.connectors.binance.errors import InvalidRequest, OrderNotPlaced
from agents.connectors.binance.venue import BinanceVenue

__all__ = ["BinanceVenue", "InvalidRequest", "OrderNotPlaced"]
