"""TreasuryService: the shell that carries out the state machine's effects for one transfer request.

Guards, in order, against a transfer_id moving money twice:

1. the idempotency record (Redis, ``idem:{transfer}:<id>``): a finished id is answered from it
   without taking a lock or touching the venue; a different body under the id is a conflict;
2. the route lock ``lock:{treasury}:<from>:<to>`` (holder token, TTL): one request per route
   works at a time, so the claim, the record updates and the send are never raced for one id;
3. the SUBMITTED marker, written to Redis and ClickHouse *before* the venue call: whoever finds
   it later (a retry after a crash, a restart whose Redis lost the record) answers "outcome
   unknown" and never sends again. Only a record still at CLAIMED/PENDING is carried on, since
   those states are left before the venue is called.

The venue is called at most once per request, and never for an id already SUBMITTED. An outcome
the venue could not resolve stays SUBMITTED; resolving it is the reconciler's job (S5).
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from pydantic import ValidationError
from redis.exceptions import RedisError

from agents.connectors.port import OutcomeUnknown, Venue, VenueError
from agents.connectors.treasury.audit import AuditLog, audit_event
from agents.connectors.treasury.daily import DailyLedger
from agents.connectors.treasury.errors import (
    InvalidTransferRequest,
    RecordUnavailable,
    TransferConflict,
    TreasuryBusy,
)
from agents.connectors.treasury.journal import TransferJournal
from agents.connectors.treasury.machine import (
    UNRESOLVED,
    Audit,
    DailyChecked,
    Effect,
    Event,
    Persist,
    ReleaseDaily,
    Reply,
    Requested,
    ReserveDaily,
    SendTransfer,
    Status,
    Transfer,
    TransferOrder,
    VenueAccepted,
    VenueRefused,
    VenueUnknown,
    answer_from_record,
    step,
)
from agents.connectors.treasury.models import TRANSFER_ID_PATTERN, TransferRequest, TransferResponse
from agents.connectors.treasury.policy import DAY_MS, TreasuryPolicy, amount_problem
from agents.connectors.treasury.records import CLAIMED, Record, TransferRecords
from chimera.model import Clock
from sinks.redis import Keyspace, Locks

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ServiceConfig:
    # longer than any retry horizon; past it the ClickHouse record still refuses a second send
    idempotency_ttl_ms: int = 30 * DAY_MS
    # longer than a venue call with its own resolution; extended at every state change
    lock_ttl_ms: int = 60_000
    lock_wait_ms: int = 15_000  # a request waits this long for a busy route, then gets 503
    lock_poll_ms: int = 10
    worker_id: str = "chimera"


class TreasuryService:
    def __init__(
        self,
        *,
        policy: TreasuryPolicy,
        venue: Venue,
        records: TransferRecords,
        ledger: DailyLedger,
        locks: Locks,
        keyspace: Keyspace,
        journal: TransferJournal,
        audit: AuditLog,
        clock: Clock,
        config: ServiceConfig | None = None,
    ) -> None:
        self.policy = policy
        self.venue = venue
        self.records = records
        self.ledger = ledger
        self.locks = locks
        self.keyspace = keyspace
        self.journal = journal
        self.audit = audit
        self.clock = clock
        self.config = config or ServiceConfig()
        self._tasks: set[asyncio.Task[TransferResponse]] = set()

    async def load(self) -> None:
        """Load the Lua scripts now, so the first transfer pays no NOSCRIPT round trip."""
        await self.records.load()
        await self.ledger.load()
        await self.locks.load()

    async def flush(self) -> None:
        """Retry rows ClickHouse refused earlier (call from a timer and at shutdown)."""
        await self.journal.flush()
        await self.audit.flush()

    # ---- the request -----------------------------------------------------------------------------
    async def submit(
        self, body: TransferRequest | Mapping[str, Any], idempotency_key: str | None = None
    ) -> TransferResponse:
        """Validate, then execute the transfer once; a repeat gets the first answer back.

        Raises InvalidTransferRequest (422), TransferConflict (409), TreasuryBusy and
        RecordUnavailable (503, retriable: nothing was sent that the record does not show).
        """
        request = self._validate(body, idempotency_key)
        order, fingerprint = request.order(), request.fingerprint()
        try:
            return await self._submit(order, fingerprint)
        except RedisError as exc:
            raise RecordUnavailable(f"Redis: {type(exc).__name__}: {exc}") from exc

    def _validate(self, body: TransferRequest | Mapping[str, Any], key: str | None) -> TransferRequest:
        if isinstance(body, TransferRequest):
            request = body
        else:
            try:
                request = TransferRequest.model_validate(body)
            except ValidationError as exc:
                raise InvalidTransferRequest(
                    [{"loc": ["body", *e["loc"]], "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
                ) from None
        header = ("header", "Idempotency-Key")
        if key is not None:
            if not re.fullmatch(TRANSFER_ID_PATTERN, key):
                raise InvalidTransferRequest.one(
                    header, f"{key!r} is not a transfer id ({TRANSFER_ID_PATTERN})"
                )
            if request.transfer_id is None:
                request = request.model_copy(update={"transfer_id": key})
            elif request.transfer_id != key:
                raise InvalidTransferRequest.one(
                    header,
                    f"Idempotency-Key {key!r} differs from the body's transfer_id {request.transfer_id!r}",
                )
        elif request.transfer_id is None:
            raise InvalidTransferRequest.one(
                ("body", "transfer_id"),
                "required: give transfer_id in the body or the Idempotency-Key header",
            )
        problem = amount_problem(self.policy, request.asset, request.amount)
        if problem is not None:
            raise InvalidTransferRequest.one(("body", "amount"), problem)
        return request

    async def _submit(self, order: TransferOrder, fingerprint: str) -> TransferResponse:
        tid = order.transfer_id
        lock = self.keyspace.lock_treasury(str(order.from_account), str(order.to_account))
        token = f"{self.config.worker_id}:{uuid.uuid4().hex}"
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.lock_wait_ms / 1000
        while True:
            record = await self.records.get(tid)
            if record is not None:
                self._same(record, fingerprint, tid)
                if record.final:
                    return record.response(tid)
            if await self.locks.acquire(lock, token, self.config.lock_ttl_ms):
                break
            if loop.time() >= deadline:
                raise TreasuryBusy(f"route {order.from_account}→{order.to_account} stayed busy; retry {tid}")
            await asyncio.sleep(self.config.lock_poll_ms / 1000)
        # shielded: a caller that goes away (client disconnect) must not stop a transfer half-way
        task = asyncio.create_task(self._holding(order, fingerprint, lock, token))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return await asyncio.shield(task)

    @staticmethod
    def _same(record: Record, fingerprint: str, tid: str) -> None:
        if record.fingerprint != fingerprint:
            raise TransferConflict(f"transfer_id {tid} was already used for a different transfer")

    async def _holding(
        self, order: TransferOrder, fingerprint: str, lock: str, token: str
    ) -> TransferResponse:
        try:
            return await self._locked(order, fingerprint, lock, token)
        finally:
            try:
                await self.locks.release(lock, token)
            except RedisError as exc:  # it expires by itself
                log.warning("could not release %s: %s", lock, exc)

    async def _locked(
        self, order: TransferOrder, fingerprint: str, lock: str, token: str
    ) -> TransferResponse:
        tid = order.transfer_id
        claim = await self.records.claim(tid, Record(fingerprint, token, CLAIMED))
        if not claim.first:
            self._same(claim.record, fingerprint, tid)
            if claim.record.final:
                return claim.record.response(tid)
            if claim.record.status == Status.SUBMITTED:
                return TransferResponse(transfer_id=tid, result=Status.SUBMITTED, message=UNRESOLVED)
            # CLAIMED / PENDING: an earlier holder stopped before the venue call; we hold the lock now
        base = 0
        prior = await self.journal.latest(tid)
        if prior is not None:
            o = order
            if not prior.same_transfer(str(o.from_account), str(o.to_account), o.asset, o.amount):
                raise TransferConflict(f"transfer_id {tid} is recorded for a different transfer")
            known = answer_from_record(tid, prior.status, prior.reason)
            if known is not None:  # Redis had lost the record (or never had it): ClickHouse answers
                await self.records.put(
                    tid, Record(fingerprint, token, known.result, prior.version, known.message)
                )
                return TransferResponse(transfer_id=tid, result=known.result, message=known.message)
            base = prior.version  # an upstream PENDING/APPROVED (S6, S12) or our own unsent attempt
        state, effects = step(None, Requested(order, self.clock.now_ms(), base), self.policy)
        return await self._drive(state, effects, fingerprint, lock, token)

    # ---- effects ---------------------------------------------------------------------------------
    async def _drive(
        self, state: Transfer, effects: list[Effect], fingerprint: str, lock: str, token: str
    ) -> TransferResponse:
        reply: Reply | None = None
        queue: deque[Effect] = deque(effects)
        while queue:
            effect = queue.popleft()
            event: Event | None = None
            if isinstance(effect, Persist):
                await self._persist(effect.transfer, fingerprint, lock, token)
            elif isinstance(effect, Audit):
                await self.audit.emit(
                    audit_event(effect.transfer, effect.kind, effect.message, self.clock.now_ms())
                )
            elif isinstance(effect, ReserveDaily):
                held = await self.ledger.reserve(
                    state.transfer_id,
                    effect.asset,
                    effect.amount,
                    self._step_of(effect.asset),
                    effect.limit,
                    self.clock.now_ms(),
                    effect.window_ms,
                )
                event = DailyChecked(held.used, held.reserved, self.clock.now_ms())
            elif isinstance(effect, ReleaseDaily):
                await self._release(state.transfer_id, effect)
            elif isinstance(effect, SendTransfer):
                event = await self._send(effect.transfer)
            else:
                reply = effect
            if event is not None:
                state, more = step(state, event, self.policy)
                queue.extend(more)
        await self._finish()
        assert reply is not None, "every path of the machine ends in a Reply"
        return TransferResponse(transfer_id=reply.transfer_id, result=reply.result, message=reply.message)

    def _step_of(self, asset: str) -> Decimal:
        limits = self.policy.limits_for(asset)
        assert limits is not None  # the machine reserves only for a whitelisted asset
        return limits.step

    async def _persist(self, t: Transfer, fingerprint: str, lock: str, token: str) -> None:
        kept = await self.locks.extend(lock, token, self.config.lock_ttl_ms)
        if not kept and t.status is Status.SUBMITTED:
            # another holder may be working on this route: never send without the lock
            raise TreasuryBusy(f"lost {lock} before sending {t.transfer_id}; nothing sent, retry")
        await self.journal.add(t)
        if t.status is Status.SUBMITTED:
            await self.journal.flush()  # durable before the send: the proof that money may move
        await self.records.put(t.transfer_id, Record(fingerprint, token, t.status, t.version, t.reason))

    async def _release(self, tid: str, effect: ReleaseDaily) -> None:
        try:
            await self.ledger.release(tid, effect.asset, effect.amount, self._step_of(effect.asset))
        except RedisError as exc:  # the hold then ages out of the window: too strict, never too lax
            log.warning("could not release the daily hold of %s: %s", tid, exc)

    async def _send(self, t: Transfer) -> Event:
        o = t.order
        now = self.clock.now_ms
        try:
            res = await self.venue.transfer(o.asset, o.amount, o.from_account, o.to_account, o.transfer_id)
        except OutcomeUnknown as exc:
            return VenueUnknown(str(exc), now())
        except VenueError as exc:
            code = f" (venue code {exc.code})" if exc.code is not None else ""
            return VenueRefused(f"{exc}{code}", now())
        except Exception as exc:  # anything else after the request may have left: unknown, not failed
            log.exception("venue transfer %s raised", o.transfer_id)
            return VenueUnknown(f"{type(exc).__name__}: {exc}", now())
        answered = (res.asset, res.amount, res.from_wallet, res.to_wallet)
        if answered != (o.asset, o.amount, o.from_account, o.to_account):
            return VenueUnknown(f"the venue answered for another transfer under this id: {answered}", now())
        if not res.ok:
            return VenueRefused(res.message or "the venue reported the transfer as failed", now())
        return VenueAccepted(res.venue_tran_id, res.message, now())

    async def _finish(self) -> None:
        try:
            await self.journal.flush()
        except RecordUnavailable as exc:  # the answer stands; the rows stay in the sink for flush()
            log.error("treasury_transfers rows kept for a retry: %s", exc)
        await self.audit.flush()
