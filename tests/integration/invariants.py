"""What must hold after any run of the trading path, crashes and redeliveries included: each checks
the record (ClickHouse), the topics and the paper venue against each other and returns the
problems it found (empty: it holds)."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any

from pipeline_kit import PAPER_USDT, Stack, money

from agents.positions.intents import ENTRY_LEG
from agents.router.config import DEFAULT_PARAMS
from agents.router.execution import cid, slice_names
from chimera.model import client_order_id_for, intent_id_for
from topics.trading import CancelIntent, OrderIntent, PositionEvent

Intents = dict[str, OrderIntent | CancelIntent]


def duplicate_client_order_ids(stack: Stack) -> list[dict[str, Any]]:
    """A client_order_id with two venue orders or two intents; a venue order under two ids."""
    twice = stack.query(
        "SELECT client_order_id, uniqExact(exchange_order_id) AS venue_ids, uniqExact(intent_id) AS intents "
        "FROM orders WHERE exchange_order_id != '' GROUP BY client_order_id "
        "HAVING venue_ids > 1 OR intents > 1"
    )
    shared = stack.query(
        "SELECT exchange_order_id, uniqExact(client_order_id) AS ids FROM orders "
        "WHERE exchange_order_id != '' GROUP BY exchange_order_id HAVING ids > 1"
    )
    return twice + shared


def expected_orders(intent: OrderIntent | CancelIntent) -> tuple[set[str], int, int]:
    """The client_order_ids an intent may have, and how many orders it must have (min, max)."""
    if isinstance(intent, CancelIntent):
        flat = {str(client_order_id_for(intent.intent_id, "flat"))} if intent.flatten else set()
        return flat, 0, len(flat)
    names = slice_names(intent, DEFAULT_PARAMS.max_reprices)
    allowed = {str(cid(intent, n)) for n in names}
    if intent.exec == "market":
        return allowed, 1, 1
    if intent.exec == "sl_tp":
        legs = (intent.sl_price is not None) + (intent.tp_price is not None)
        return allowed, legs, legs
    if intent.exec == "twap":
        return allowed, 1, intent.twap_slices or 0  # fewer when cancelled or refused mid-way
    return allowed, 1, len(allowed)


def orders_per_intent(stack: Stack, intents: Intents) -> list[str]:
    rows = stack.query("SELECT DISTINCT intent_id, client_order_id FROM orders")
    by_intent: dict[str, set[str]] = defaultdict(set)
    for r in rows:
        by_intent[r["intent_id"]].add(r["client_order_id"])
    problems = []
    for intent_id, intent in intents.items():
        allowed, least, most = expected_orders(intent)
        got = by_intent.pop(intent_id, set())
        if not got <= allowed or not least <= len(got) <= most:
            problems.append(f"{intent_id} ({getattr(intent, 'exec', 'cancel')}): orders {sorted(got)}")
    problems += [f"orders of an intent never sent: {k} {sorted(v)}" for k, v in by_intent.items()]
    return problems


def owner_of(intents: Intents, events: list[PositionEvent]) -> dict[str, str]:
    """intent_id -> pos_id: S6's own intents name their position; the entry is S3's intent."""
    owner = {i.intent_id: i.pos_id for i in intents.values() if isinstance(i, OrderIntent) and i.pos_id}
    for e in events:
        if e.kind == "OPEN" and e.signal_id is not None:
            owner.setdefault(intent_id_for(e.signal_id, ENTRY_LEG), e.pos_id)
    return owner


def books_against_fills(
    stack: Stack, intents: Intents, events: list[PositionEvent], desk: dict[str, Any]
) -> tuple[list[str], dict[str, Any]]:
    """S6's positions, the venue's trades and the venue's cash against the ``fills`` rows: every
    fill the venue made is in ``fills`` once; each position's quantity, fees and realised PnL at its
    last event equal those recomputed from its fills; the wallet equals its start plus what the
    fills realised less their fees."""
    problems: list[str] = []
    rows = stack.query("SELECT * FROM fills FINAL ORDER BY ts, trade_id")
    venue = {f["trade_id"]: f for f in desk["fills"]}
    recorded = {r["trade_id"]: r for r in rows}
    if set(venue) != set(recorded):
        problems.append(f"venue trades {len(venue)} vs fills rows {len(recorded)}: "
                        f"missing {sorted(set(venue) - set(recorded))[:5]}, "
                        f"unknown {sorted(set(recorded) - set(venue))[:5]}")  # fmt: skip
    for tid, r in recorded.items():
        v = venue.get(tid)
        if v is not None and (money(v["qty"]), money(v["price"])) != (money(r["qty"]), money(r["price"])):
            problems.append(f"fill {tid}: venue {v} vs row {r}")
    owner = owner_of(intents, events)
    per_pos: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        pos = owner.get(r["intent_id"])
        if pos is None:
            problems.append(f"fill {r['trade_id']} of intent {r['intent_id']}: no position owns it")
            continue
        per_pos[pos].append(r)
    last: dict[str, PositionEvent] = {}
    for e in events:
        if e.kind != "STAGNATED":
            last[e.pos_id] = e
    realized = Decimal(0)
    fees_all = Decimal(0)
    open_qty: dict[str, Decimal] = defaultdict(Decimal)
    for pos_id, ev in last.items():
        qty = cash = fees = Decimal(0)
        for f in per_pos[pos_id]:
            sign = Decimal(1) if f["side"] == "BUY" else Decimal(-1)
            qty += sign * money(f["qty"])
            cash -= sign * money(f["qty"]) * money(f["price"])
            fees += money(f["fee"])
        signed = ev.qty if ev.side.value == "BUY" else -ev.qty
        if qty != signed:
            problems.append(f"{pos_id}: fills hold {qty}, S6 says {signed} ({ev.kind})")
        if ev.fees_paid != fees:
            problems.append(f"{pos_id}: fills paid {fees} in fees, S6 says {ev.fees_paid}")
        if ev.kind == "EXIT":
            if ev.realized_pnl != cash - fees - ev.funding_paid:
                problems.append(f"{pos_id}: fills realised {cash - fees}, S6 says {ev.realized_pnl}")
            realized += cash
        else:
            open_qty[ev.symbol] += qty
        fees_all += fees
    fut = desk["balances"]["FUT"].get("USDT")
    wallet = money(fut["total"]) if fut else PAPER_USDT
    # open positions at the end have only entry fills (one take-profit rung closes the whole)
    if wallet != PAPER_USDT + realized - fees_all:
        problems.append(f"wallet {wallet} != {PAPER_USDT} + realised {realized} - fees {fees_all}")
    venue_qty = {p["symbol"]: money(p["qty"]) for p in desk["positions"] if money(p["qty"]) != 0}
    if venue_qty != {s: q for s, q in open_qty.items() if q != 0}:
        problems.append(f"venue positions {venue_qty} vs S6's open positions {dict(open_qty)}")
    summary = {"fills": len(rows), "positions": len(last), "open": len(venue_qty), "wallet": wallet}
    return problems, summary


def unprotected(desk: dict[str, Any]) -> list[str]:
    """Venue positions without a reduce-only stop resting for their whole quantity."""
    out = []
    for pos in desk["positions"]:
        qty = abs(money(pos["qty"]))
        if qty == 0:
            continue
        stops = [
            o for o in desk["open_orders"] if o["symbol"] == pos["symbol"] and o["type"] == "STOP_MARKET"
        ]
        covered = sum(
            (money(o["qty"]) for o in stops if o["reduce_only"] and o["qty"] is not None), Decimal(0)
        )
        if covered < qty:
            out.append(f"{pos} has stops {stops}")
    return out
