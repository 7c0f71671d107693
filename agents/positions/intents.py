"""The orders S6 sends, as wire ``OrderIntent`` / ``CancelIntent``, with deterministic ids.

An order's id is ``intent_id_for(pos_id, "<action>-<step>-<n>")``: the action (sl, tp, add,
exit), its step (trailing step, rung, add number) and ``n``, the count of orders the position has
sent. The same events give the same ids (a replay or a redelivery is deduplicated by S4), and a
retry after a refusal is a new order with a new id. A cancel's id is derived from its target.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from agents.positions.state import Position, Role
from chimera.model import IntentId, intent_id_for, stable_hash
from topics.trading import CancelIntent, ExecStyle, OrderIntent

SOURCE = "positions"
ENTRY_LEG = "entry"  # S3's leg name: intent_id_for(signal_id, "entry") (a test keeps the two equal)


def pos_id_for(entry_intent_id: str) -> str:
    """The position opened by an entry intent (also the autopsy's trade_id)."""
    return f"pos-{stable_hash(entry_intent_id)}"


def _new_id(pos: Position, action: str, step: int) -> tuple[Position, IntentId]:
    iid = intent_id_for(pos.pos_id, f"{action}-{step}-{pos.orders}")
    return pos.model_copy(update={"orders": pos.orders + 1, "intents": (*pos.intents, iid)}), iid


def _intent(
    pos: Position,
    iid: IntentId,
    *,
    qty: Decimal,
    exec_: ExecStyle,
    reduce_only: bool,
    ts: int,
    reason: str,
    sl_price: Decimal | None = None,
    tp_price: Decimal | None = None,
) -> OrderIntent:
    return OrderIntent(
        intent_id=iid,
        signal_id=pos.signal_id,
        pos_id=pos.pos_id,
        symbol=pos.symbol,
        market=pos.market,
        side=pos.side if not reduce_only else pos.side.opposite(),
        qty=qty,
        exec=exec_,
        reduce_only=reduce_only,
        sl_price=sl_price,
        tp_price=tp_price,
        ts=ts,
        source=SOURCE,
        reason=reason,
    )


def protective(
    pos: Position, role: Role, price: Decimal, qty: Decimal, step: int, ts: int, reason: str
) -> tuple[Position, OrderIntent]:
    """A reduce-only STOP_MARKET (SL) or TAKE_PROFIT_MARKET (TP) for ``qty`` at ``price``."""
    pos, iid = _new_id(pos, role.lower(), step)
    if role == "SL":
        intent = _intent(
            pos, iid, qty=qty, exec_="sl_tp", reduce_only=True, ts=ts, reason=reason, sl_price=price
        )
    else:
        intent = _intent(
            pos, iid, qty=qty, exec_="sl_tp", reduce_only=True, ts=ts, reason=reason, tp_price=price
        )
    return pos, intent


def market(
    pos: Position, action: Literal["tp", "add", "exit"], step: int, qty: Decimal, ts: int, reason: str
) -> tuple[Position, OrderIntent]:
    """A market order: reduce-only for take-profit rungs and exits, opening for add-ons."""
    pos, iid = _new_id(pos, action, step)
    intent = _intent(pos, iid, qty=qty, exec_="market", reduce_only=action != "add", ts=ts, reason=reason)
    return pos, intent


def cancel(pos: Position, target: str, ts: int, reason: str) -> CancelIntent:
    return CancelIntent(
        intent_id=intent_id_for(pos.pos_id, f"cancel-{target}"),
        target_intent_id=IntentId(target),
        symbol=pos.symbol,
        market=pos.market,
        ts=ts,
        source=SOURCE,
        reason=reason,
    )
