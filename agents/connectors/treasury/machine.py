"""The transfer state machine: ``step(state, event, policy) -> (state, effects)``, nothing else.

::

    (none) --Requested--> PENDING --DailyChecked(reserved)--> SUBMITTED --VenueAccepted--> DONE
                              |                                   |  \\--VenueRefused---> FAILED
                              +--(route / per-transfer cap)       |   \\-VenueUnknown--> SUBMITTED (stays)
                              +--DailyChecked(not reserved)-----> REFUSED

Every state change bumps ``version`` and asks the shell to persist it (a treasury_transfers row)
and to audit it (ops.events). Effects are commands, carried out in order; the two that need the
outside world (the daily reservation, the venue call) answer with the next event. A send whose
outcome is unknown stays SUBMITTED: the venue's own resolution already ran, and a second send
could move the money twice.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal
from enum import StrEnum

from agents.connectors.treasury.policy import Refusal, TreasuryPolicy, check_daily, check_transfer, plain
from chimera.model import Market


class Status(StrEnum):
    PENDING = "PENDING"
    SUBMITTED = "SUBMITTED"
    DONE = "DONE"
    FAILED = "FAILED"
    REFUSED = "REFUSED"

    @property
    def is_final(self) -> bool:
        return self in (Status.DONE, Status.FAILED, Status.REFUSED)


class InvalidTransition(RuntimeError):
    """An event that cannot happen in the current state: a bug in the shell, never bad input."""


@dataclass(frozen=True, slots=True)
class TransferOrder:
    """A validated request: what to move, and who asked (and approved) it."""

    transfer_id: str
    from_account: Market
    to_account: Market
    asset: str
    amount: Decimal
    requested_by: str = ""
    approved_by: str = ""
    note: str = ""  # the caller's reason, e.g. "S6 auto: need=120 USDT"


@dataclass(frozen=True, slots=True)
class Transfer:
    """One transfer at one version: exactly what one treasury_transfers row holds."""

    order: TransferOrder
    status: Status
    version: int
    reason: str  # why it is in this state: the caller's note, the refusal, the venue's message
    created_ts: int
    ts: int
    venue_transfer_id: str = ""

    @property
    def transfer_id(self) -> str:
        return self.order.transfer_id


# ---- events ------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Requested:
    order: TransferOrder
    ts: int
    base_version: int = 0  # rows an upstream writer (S6/S12) already recorded under this id


@dataclass(frozen=True, slots=True)
class DailyChecked:
    used: Decimal  # what the rolling window held before this transfer
    reserved: bool
    ts: int


@dataclass(frozen=True, slots=True)
class VenueAccepted:
    venue_transfer_id: str
    message: str
    ts: int


@dataclass(frozen=True, slots=True)
class VenueRefused:
    message: str
    ts: int


@dataclass(frozen=True, slots=True)
class VenueUnknown:
    message: str
    ts: int


Event = Requested | DailyChecked | VenueAccepted | VenueRefused | VenueUnknown


# ---- effects -----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Persist:
    transfer: Transfer


@dataclass(frozen=True, slots=True)
class Audit:
    transfer: Transfer
    kind: str
    message: str


@dataclass(frozen=True, slots=True)
class ReserveDaily:
    """Atomically: if ``used + amount <= limit`` over the window, hold ``amount``; answer DailyChecked."""

    asset: str
    amount: Decimal
    limit: Decimal
    window_ms: int


@dataclass(frozen=True, slots=True)
class ReleaseDaily:
    """Give the reservation back: the venue refused, nothing moved."""

    asset: str
    amount: Decimal


@dataclass(frozen=True, slots=True)
class SendTransfer:
    """Call the venue once; answer VenueAccepted / VenueRefused / VenueUnknown."""

    transfer: Transfer


@dataclass(frozen=True, slots=True)
class Reply:
    transfer_id: str
    result: Status
    message: str


Effect = Persist | Audit | ReserveDaily | ReleaseDaily | SendTransfer | Reply


def _move(
    t: Transfer, status: Status, ts: int, reason: str | None = None, venue_id: str | None = None
) -> Transfer:
    return replace(
        t,
        status=status,
        version=t.version + 1,
        ts=ts,
        reason=t.reason if reason is None else reason,
        venue_transfer_id=t.venue_transfer_id if venue_id is None else venue_id,
    )


def _recorded(t: Transfer) -> list[Effect]:
    return [Persist(t), Audit(t, f"TRANSFER_{t.status}", t.reason)]


def _refuse(pending: Transfer, refusal: Refusal, ts: int) -> tuple[Transfer, list[Effect]]:
    refused = _move(pending, Status.REFUSED, ts, reason=str(refusal))
    return refused, [*_recorded(refused), Reply(refused.transfer_id, Status.REFUSED, refused.reason)]


def _expect(state: Transfer | None, status: Status, event: Event) -> Transfer:
    if state is None or state.status is not status:
        have = "nothing" if state is None else state.status
        raise InvalidTransition(f"{type(event).__name__} needs a {status} transfer, have {have}")
    return state


def step(state: Transfer | None, event: Event, policy: TreasuryPolicy) -> tuple[Transfer, list[Effect]]:
    """Apply one event; return the new state and the effects to carry out, in order."""
    if isinstance(event, Requested):
        if state is not None:
            raise InvalidTransition(f"{state.transfer_id} was already requested ({state.status})")
        o = event.order
        pending = Transfer(o, Status.PENDING, event.base_version + 1, o.note, event.ts, event.ts)
        effects = _recorded(pending)
        refusal = check_transfer(policy, o.from_account, o.to_account, o.asset, o.amount)
        if refusal is not None:
            refused, more = _refuse(pending, refusal, event.ts)
            return refused, effects + more
        limits = policy.limits_for(o.asset)
        assert limits is not None  # check_transfer passed: the route's asset has limits
        return pending, [*effects, ReserveDaily(o.asset, o.amount, limits.max_per_day, policy.window_ms)]

    if isinstance(event, DailyChecked):
        t = _expect(state, Status.PENDING, event)
        refusal = check_daily(policy, t.order.asset, t.order.amount, event.used)
        if event.reserved != (refusal is None):
            # the atomic check in Redis and this one disagree: do not guess which one is right
            raise InvalidTransition(
                f"{t.transfer_id}: daily ledger says reserved={event.reserved} with {event.used} used, "
                f"the policy says {refusal or 'within the limit'}"
            )
        if refusal is not None:
            return _refuse(t, refusal, event.ts)
        submitted = _move(t, Status.SUBMITTED, event.ts)
        return submitted, [*_recorded(submitted), SendTransfer(submitted)]

    if isinstance(event, VenueAccepted):
        t = _expect(state, Status.SUBMITTED, event)
        o = t.order
        route = f"{o.from_account}→{o.to_account}"
        message = event.message or (
            f"moved {plain(o.amount)} {o.asset} {route} (venue id {event.venue_transfer_id})"
        )
        done = _move(t, Status.DONE, event.ts, reason=message, venue_id=event.venue_transfer_id)
        return done, [*_recorded(done), Reply(done.transfer_id, Status.DONE, message)]

    if isinstance(event, VenueRefused):
        t = _expect(state, Status.SUBMITTED, event)
        failed = _move(t, Status.FAILED, event.ts, reason=f"VENUE_REFUSED: {event.message}")
        return failed, [
            *_recorded(failed),
            ReleaseDaily(t.order.asset, t.order.amount),
            Reply(failed.transfer_id, Status.FAILED, failed.reason),
        ]

    # VenueUnknown: not a state change (no new version); operators must hear of it all the same
    t = _expect(state, Status.SUBMITTED, event)
    message = f"OUTCOME_UNKNOWN: {event.message}; not re-sent, to be resolved against the venue"
    return t, [Audit(t, "TRANSFER_OUTCOME_UNKNOWN", message), Reply(t.transfer_id, Status.SUBMITTED, message)]


# ---- what an earlier record of the id means --------------------------------------------------
# other writers of treasury_transfers (S6 creates, S12 approves) use the DDL's spelling:
# PENDING -> APPROVED | REJECTED -> SENT -> DONE | FAILED
NOT_SENT = frozenset({"PENDING", "APPROVED"})
SENT = frozenset({"SUBMITTED", "SENT"})
UNRESOLVED = (
    "OUTCOME_UNKNOWN: sent to the venue earlier, and that attempt did not finish; not re-sent, "
    "to be resolved against the venue"
)


def answer_from_record(transfer_id: str, status: str, reason: str) -> Reply | None:
    """The answer an id's newest recorded row already gives, or None: nothing was sent, carry on.

    Anything that may have reached the venue is unresolved; a status this service does not
    know (REJECTED by S12, or a newer one) is never executed.
    """
    if status in NOT_SENT:
        return None
    if status in SENT:
        return Reply(transfer_id, Status.SUBMITTED, UNRESOLVED)
    if status in Status.__members__ and Status(status).is_final:
        return Reply(transfer_id, Status(status), reason)
    return Reply(
        transfer_id, Status.REFUSED, f"{status}: recorded so by another writer; not executed ({reason})"
    )
