"""Domain types shared by every service: exact money, typed ids, enums, clocks."""

from chimera.model.clock import Clock, LiveClock, TestClock
from chimera.model.enums import Market, OrderStatus, OrderType, Side, TimeInForce
from chimera.model.ids import (
    ClientOrderId,
    IntentId,
    SignalId,
    Symbol,
    TransferId,
    client_order_id_for,
    intent_id_for,
    signal_id_for,
    stable_hash,
)
from chimera.model.money import Price, Qty, round_to_step, to_decimal

__all__ = [
    "ClientOrderId",
    "Clock",
    "IntentId",
    "LiveClock",
    "Market",
    "OrderStatus",
    "OrderType",
    "Price",
    "Qty",
    "Side",
    "SignalId",
    "Symbol",
    "TestClock",
    "TimeInForce",
    "TransferId",
    "client_order_id_for",
    "intent_id_for",
    "round_to_step",
    "signal_id_for",
    "stable_hash",
    "to_decimal",
]
