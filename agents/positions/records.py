"""What S6 records: the ``pos.events`` PositionEvent, the ``positions_snapshots`` row, and the
JSON mirrored to Redis. Each is a function of the position after the change.

The row's mark, average entry and PnL are held at the table's 12 places
(:func:`sinks.clickhouse.scale.at_scale`): a mark carries its recording's float noise and the
unrealised PnL inherits it, which the sink would refuse. The event keeps the exact values."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from agents.positions.config import PositionConfig
from agents.positions.context import Ctx
from agents.positions.events import Effect, Mirror, Publish, Snapshot
from agents.positions.protect import rung_price
from agents.positions.state import PRICE_STEP, ZERO, Position
from sinks.clickhouse.scale import at_scale
from topics.trading import PositionEvent, PositionKind

SNAPSHOT_TABLE = "positions_snapshots"


def margin_of(pos: Position) -> Decimal:
    return (pos.cost / pos.leverage).quantize(PRICE_STEP)


def position_event(
    pos: Position,
    kind: PositionKind,
    ts: int,
    reason: str | None,
    fill_qty: Decimal | None = None,
    fill_price: Decimal | None = None,
) -> PositionEvent:
    """The position as it is after the change, plus the fill that made the change (if one did)."""
    mark = pos.last_mark or pos.last_price
    return PositionEvent(
        kind=kind,
        pos_id=pos.pos_id,
        seq=pos.seq,
        signal_id=pos.signal_id,
        symbol=pos.symbol,
        market=pos.market,
        side=pos.side,
        qty=pos.qty,
        entry_price=pos.entry_px,
        mark_price=mark,
        fill_qty=fill_qty,
        fill_price=fill_price,
        margin=margin_of(pos),
        unrealized_pnl=pos.unrealized(mark) if mark is not None else None,
        realized_pnl=pos.net_realized(),
        fees_paid=pos.fees,
        funding_paid=pos.funding,
        sl_price=pos.sl_price,
        tp_level=pos.tp_level,
        adds=pos.adds,
        opened_ts=pos.opened_ts,
        ts=max(ts, pos.opened_ts),
        reason=reason,
    )


def snapshot_row(pos: Position, ts: int) -> dict[str, Any]:
    """A positions_snapshots row; ``seq`` is the position's snapshot counter (not the event seq)."""
    mark = pos.last_mark or pos.last_price or pos.entry_px
    return {
        "pos_id": pos.pos_id,
        "seq": pos.snap_seq,
        "symbol": pos.symbol,
        "market": str(pos.market),
        "side": str(pos.side),
        "status": pos.status,
        "qty": pos.qty,
        "entry_price": at_scale(pos.entry_px),
        "mark_price": at_scale(mark),
        "margin": margin_of(pos),
        "unrealized_pnl": at_scale(pos.unrealized(mark)),
        "realized_pnl": at_scale(pos.net_realized()),
        "fees_paid": at_scale(pos.fees),
        "funding_paid": at_scale(pos.funding),
        "sl_price": pos.sl_price if pos.sl_price is not None else ZERO,
        "tp_level": pos.tp_level,
        "adds": pos.adds,
        "ts": ts,
    }


def sl_mirror(pos: Position) -> dict[str, Any]:
    live = [p for p in pos.of_role("SL") if p.status == "LIVE"]
    pending = [p for p in pos.of_role("SL") if p.status == "PENDING"]
    return {
        "step": pos.sl_step,
        "price": None if pos.sl_price is None else str(pos.sl_price),
        "live": [p.intent_id for p in live],
        "pending": [{"intent_id": p.intent_id, "price": str(p.price), "step": p.step} for p in pending],
        "ts": pos.ts,
    }


def tp_mirror(pos: Position, cfg: PositionConfig, prices: list[Decimal | None]) -> dict[str, Any]:
    target = [p for p in pos.of_role("TP") if p.status in ("LIVE", "PENDING")]
    return {
        "level": pos.tp_level,
        "rungs": [
            {
                "n": i + 1,
                "trigger": str(r.trigger * pos.tp_mult),
                "fraction": str(r.fraction),
                "price": None if px is None else str(px),
                "done": i < pos.tp_level,
                "resting": i == len(cfg.tp) - 1,
            }
            for i, (r, px) in enumerate(zip(cfg.tp, prices, strict=True))
        ],
        "target": [p.intent_id for p in target],
        "ts": pos.ts,
    }


def adds_mirror(pos: Position) -> dict[str, Any]:
    return {"count": pos.adds, "max": pos.max_adds, "blocked": pos.adds_blocked, "ts": pos.ts}


def emit(
    pos: Position,
    kind: PositionKind,
    ts: int,
    reason: str | None,
    fill_qty: Decimal | None = None,
    fill_price: Decimal | None = None,
) -> tuple[Position, list[Effect]]:
    """Publish the event and write its snapshot row; move both counters on."""
    event = position_event(pos, kind, ts, reason, fill_qty, fill_price)
    row = snapshot_row(pos, ts)
    pos = pos.model_copy(update={"seq": pos.seq + 1, "snap_seq": pos.snap_seq + 1, "snap_ts": ts})
    return pos, [Publish(event), Snapshot(row)]


def snapshot(pos: Position, ts: int) -> tuple[Position, Snapshot]:
    """A snapshot row with no event (a tick, a funding settlement)."""
    row = snapshot_row(pos, ts)
    return pos.model_copy(update={"snap_seq": pos.snap_seq + 1, "snap_ts": ts}), Snapshot(row)


def mirror_effects(old: Position | None, new: Position, ctx: Ctx) -> list[Effect]:
    """Write the levels to Redis when they changed (not on every tick); nothing once closed."""
    if new.status == "CLOSED" or (old is not None and mirror_key(old) == mirror_key(new)):
        return []
    prices = [rung_price(new, ctx, i) for i in range(len(ctx.cfg.tp))]
    return [
        Mirror(
            pos_id=new.pos_id,
            sl=sl_mirror(new),
            tp=tp_mirror(new, ctx.cfg, prices) if ctx.cfg.tp else None,
            adds=adds_mirror(new),
        )
    ]


def mirror_key(pos: Position) -> tuple[object, ...]:
    orders = tuple((p.intent_id, p.status) for p in pos.protects)
    return (
        pos.status,
        pos.entry_px,
        pos.sl_price,
        pos.sl_step,
        orders,
        pos.tp_level,
        pos.adds,
        pos.adds_blocked,
    )
