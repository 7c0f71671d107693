"""S6's shell: run the core on one event and carry out its effects.

:meth:`PositionService.handle` takes the symbol's table value (JSON, or None) and one event, and
returns the new table value and an :class:`Outbox`: the intents for ``ord.intents``, the events
for ``pos.events`` and the ``positions_snapshots`` rows, in the order the core made them. The
Faust agent produces and sinks those and writes the table; this shell does the Redis part:

- the mirror keys ``pos:{sl}:level:<pos_id>``, ``pos:{tp}:ladder:<pos_id>``, ``pos:{adds}:<pos_id>``
  (JSON; deleted when the position closes) — the table is the state, Redis the shared view for
  S5, S12 and operators;
- the entry gate (B7) through :class:`~sinks.redis.EntryGate`: the lease of an open position's
  reservation renewed, and the reservation released at the close (idempotent by its id); a
  renewal that finds the lease gone is reported in ``Outbox.lapsed`` (the budget was reclaimed);
- both under ``lock:{pos}:<pos_id>`` (TTL, holder token), so an HTTP ``/positions/manage`` call or
  the reconciler never interleaves with the agent on one position. A busy lock raises LockBusy:
  the agent retries the event (the core's ids make the retry send nothing new).

Auto-treasury (B8): :meth:`treasury` decides, claims the transfer_id (SET NX) under
``lock:{treasury}:SPOT:FUT`` and returns the PENDING row to the first caller, and again to one that
asks for the amount claimed (the table folds a row written twice); never for another amount.

The policy (:class:`~agents.positions.policy.Policy`) is one immutable value: :meth:`use` swaps it
whole on a reload, and :meth:`handle` / :meth:`treasury` take the one they are given (the agent's
read of the active bundle for this event) or, once, the current one.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from agents.connectors.port import Instrument
from agents.positions import core
from agents.positions.config import PositionConfig
from agents.positions.context import Ctx
from agents.positions.events import (
    Effect,
    Event,
    Mirror,
    Publish,
    ReleaseGate,
    RenewGate,
    SendIntent,
    Snapshot,
)
from agents.positions.policy import Policy
from agents.positions.state import SymbolBook
from agents.positions.treasury import TreasuryDecision, auto_transfer
from sinks.redis import EntryGate, Idempotency, Keyspace, Locks, RedisClient, Released
from topics.trading import CancelIntent, OrderIntent, PositionEvent


def _dumps(payload: Mapping[str, Any]) -> str:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"))


@dataclass
class Outbox:
    intents: list[OrderIntent | CancelIntent] = field(default_factory=list)
    events: list[PositionEvent] = field(default_factory=list)
    snapshots: list[dict[str, Any]] = field(default_factory=list)
    released: list[Released] = field(default_factory=list)
    mirrored: list[str] = field(default_factory=list)  # pos_ids whose Redis keys were written
    lapsed: list[str] = field(default_factory=list)  # reservations a renewal found gone (expired)


@dataclass(frozen=True, slots=True)
class TreasuryOutcome:
    decision: TreasuryDecision
    row: dict[str, Any] | None  # the PENDING treasury_transfers row of the amount claimed in the bucket


class PositionService:
    def __init__(
        self,
        cfg: PositionConfig,
        instruments: Mapping[str, Instrument],
        client: RedisClient,
        keyspace: Keyspace,
        gate: EntryGate,
        *,
        token: str,
        lock_ttl_ms: int = 10_000,
    ) -> None:
        if not token:
            raise ValueError("a holder token (worker + task) is needed for lock:{pos}")
        self.policy = Policy.fixed(cfg, instruments)
        self._client = client
        self._ks = keyspace
        self._gate = gate
        self._locks = Locks(client)
        self._idem = Idempotency(client, keyspace)
        self._token = token
        self._lock_ttl = lock_ttl_ms

    async def load(self) -> None:
        await self._gate.load()
        await self._locks.load()
        await self._idem.load()

    @property
    def cfg(self) -> PositionConfig:
        return self.policy.cfg

    def use(self, policy: Policy) -> None:
        """Run later events by ``policy`` (one reference replaced: an event in flight keeps its own)."""
        self.policy = policy

    def ctx(self, symbol: str) -> Ctx:
        return self.policy.ctx(symbol)

    async def handle(
        self, state: Mapping[str, Any] | None, event: Event, policy: Policy | None = None
    ) -> tuple[dict[str, Any], Outbox]:
        ctx = (policy or self.policy).ctx(event.symbol)  # one config for the whole step
        book = SymbolBook.from_json(dict(state)) if state else core.empty(event.symbol)
        book, effects = core.step(book, event, ctx)
        return book.to_json(), await self.carry_out(effects)

    async def carry_out(self, effects: Sequence[Effect]) -> Outbox:
        out = Outbox()
        redis_work: dict[str, list[Mirror | ReleaseGate | RenewGate]] = {}
        for e in effects:
            if isinstance(e, SendIntent):
                out.intents.append(e.intent)
            elif isinstance(e, Publish):
                out.events.append(e.event)
            elif isinstance(e, Snapshot):
                out.snapshots.append(e.row)
            else:
                redis_work.setdefault(e.pos_id, []).append(e)
        for pos_id, work in redis_work.items():
            async with self._locks.held(self._ks.lock_pos(pos_id), self._token, self._lock_ttl):
                for item in work:
                    if isinstance(item, Mirror):
                        await self._mirror(item)
                        out.mirrored.append(pos_id)
                    elif isinstance(item, RenewGate):
                        if not await self._gate.renew(item.reservation_id, item.ttl_ms):
                            out.lapsed.append(item.reservation_id)
                    else:
                        out.released.append(await self._gate.release(item.reservation_id))
        return out

    async def _mirror(self, m: Mirror) -> None:
        keys = (
            self._ks.pos_sl_level(m.pos_id),
            self._ks.pos_tp_ladder(m.pos_id),
            self._ks.pos_adds(m.pos_id),
        )
        # the three keys hash to three slots: a plain (non-transactional) pipeline, one command per
        # key. DEL, not UNLINK: redis-py's async ClusterPipeline runs unlink() as its own coroutine
        # instead of queueing it (measured: the keys stayed), which would silently skip the delete.
        pipe = self._client.pipeline(transaction=False)
        for key, payload in zip(keys, (m.sl, m.tp, m.adds), strict=True):
            if m.clear or payload is None:
                pipe.delete(key)
            else:
                pipe.set(key, _dumps(payload))
        await pipe.execute()

    async def treasury(
        self, free_fut: Decimal, free_spot: Decimal, ts: int, policy: Policy | None = None
    ) -> TreasuryOutcome:
        rule = (policy or self.policy).cfg.treasury
        decision = auto_transfer(free_fut, free_spot, rule, ts)
        req = decision.request
        if req is None:
            return TreasuryOutcome(decision, None)
        lock = self._ks.lock_treasury(str(req.from_account), str(req.to_account))
        async with self._locks.held(lock, self._token, self._lock_ttl):
            ttl = 2 * rule.bucket_ms  # outlives the bucket that names the id
            amount = format(req.amount, "f")
            claim = await self._idem.claim("transfer", req.transfer_id, ttl, amount)
        # the claimed amount asked again (a redelivery, a crash before the row was written) gets its
        # row again, which the table folds; another amount in the bucket gets none: the first stands
        return TreasuryOutcome(decision, req.row() if claim.first or claim.value == amount else None)
