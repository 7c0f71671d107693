"""Shell step of B7: carry out the core's :class:`GateRequest` on ``sinks.redis.EntryGate``.

The reservation id is the entry's ``intent_id``, so a redelivered feature event (same signal_id,
same intent_id) finds its reservation held and takes nothing twice (``duplicate``). The amount is
the margin the intent uses (``OrderIntent.margin_usdt``). The gate's lease clock should be event
time in replays and the venue's clock live; the caller builds the ``EntryGate`` with that clock.
"""

from __future__ import annotations

from agents.strategy.context import GateResult
from agents.strategy.records import GateRequest
from sinks.redis import EntryGate, ReservationConflict


async def reserve_entry(gate: EntryGate, req: GateRequest) -> GateResult:
    try:
        d = await gate.reserve(
            req.intent_id, req.symbol, req.margin_usdt, req.budget_limit_usdt, req.max_concurrency, req.ttl_ms
        )
    except ReservationConflict:
        # held for another amount: an earlier delivery, under other inputs (e.g. health), sized it
        # differently and its intent stands; this one must not go out beside it
        return GateResult(req.intent_id, granted=False, margin_usdt=req.margin_usdt, refusal="CONFLICT")
    return GateResult(
        intent_id=req.intent_id,
        granted=d.granted,
        margin_usdt=d.margin_usdt,
        refusal=d.reason.value if d.reason is not None else None,
        duplicate=d.duplicate,
    )
