"""The entry gate (B7): reserve margin budget and a per-symbol concurrency slot in one atomic step.

Amounts travel as integer micro-USDT (a Lua number is a double, exact below 2**53 micro, i.e.
about 9e9 USDT), so a release gives back exactly what its reservation took; Python sees Decimal.

A reservation is a lease: it holds until released, or until ``ttl_ms`` of event time (the
injected clock) passes without a ``renew`` — then the next gate call gives its budget and slot
back, so a holder that died does not leak budget forever. After release or expiry the record
stays as a tombstone for ``tombstone_ms``, so a redelivered intent is not reserved a second time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from chimera.model import Clock, to_decimal
from chimera.settings import Settings
from sinks.redis.client import RedisClient
from sinks.redis.keys import Keyspace
from sinks.redis.scripts import preload, register

MICRO = 6
MAX_MICRO = 2**53 - 1


def to_micro(what: str, amount: Decimal | str | int) -> int:
    """Decimal USDT -> integer micro-USDT; more than 6 decimals or too large is an error, not a rounding."""
    value = to_decimal(amount)
    micro = value.scaleb(MICRO)
    if micro != micro.to_integral_value():
        raise ValueError(f"{what} {value} USDT has more than {MICRO} decimals")
    if not 0 <= micro <= MAX_MICRO:
        raise ValueError(f"{what} {value} USDT is out of range [0, {Decimal(MAX_MICRO).scaleb(-MICRO)}]")
    return int(micro)


def from_micro(micro: int | str) -> Decimal:
    return Decimal(int(micro)).scaleb(-MICRO)


class Refusal(StrEnum):
    BUDGET = "BUDGET"
    CONCURRENCY = "CONCURRENCY"
    RELEASED = "RELEASED"  # this reservation id was already given back
    EXPIRED = "EXPIRED"  # its lease ran out and the gate took the budget back


class ReservationConflict(ValueError):
    """The same reservation id was reserved before for another symbol or amount."""


@dataclass(frozen=True, slots=True)
class GateDecision:
    reservation_id: str
    symbol: str
    margin_usdt: Decimal
    granted: bool
    reason: Refusal | None = None
    duplicate: bool = False  # granted earlier; this call took nothing more


@dataclass(frozen=True, slots=True)
class Released:
    reservation_id: str
    released: bool  # False: unknown, already released or expired — nothing was given back now
    symbol: str
    margin_usdt: Decimal  # exactly what this call gave back (zero when released is False)


@dataclass(frozen=True, slots=True)
class GateUsage:
    budget_inuse: Decimal
    concurrency: dict[str, int]


class EntryGate:
    """B7 on Redis: S3 reserves before an entry, S6/S5 release when the position closes.

    ``reservation_id`` is the idempotency key (the entry's ``intent_id``). Limits come per call
    from the active config bundle, so a hot reload takes effect on the next reservation.
    """

    def __init__(
        self,
        client: RedisClient,
        keyspace: Keyspace,
        clock: Clock,
        *,
        tombstone_ms: int = 7 * 24 * 3_600_000,
        reclaim_batch: int = 64,
    ) -> None:
        if tombstone_ms <= 0 or reclaim_batch <= 0:
            raise ValueError("tombstone_ms and reclaim_batch must be positive")
        self._ks = keyspace
        self._clock = clock
        self._tomb = str(tombstone_ms)
        self._batch = str(reclaim_batch)
        self._reserve = register(client, "gate_reserve")
        self._release = register(client, "gate_release")
        self._renew = register(client, "gate_renew")
        self._reclaim = register(client, "gate_reclaim")
        self._client = client
        # keys and prefixes that do not depend on the call, built once
        self._budget = keyspace.gate_budget_inuse()
        self._leases = keyspace.gate_leases()
        self._conc_prefix = keyspace.gate_concurrency_prefix()
        self._resv_prefix = keyspace.gate_reservation_prefix()

    @classmethod
    def from_settings(cls, client: RedisClient, settings: Settings, clock: Clock) -> EntryGate:
        keyspace = Keyspace.from_settings(settings)
        return cls(client, keyspace, clock, tombstone_ms=settings.redis_gate_tombstone_ms)

    async def load(self) -> None:
        await preload(self._reserve, self._release, self._renew, self._reclaim)

    async def reserve(
        self,
        reservation_id: str,
        symbol: str,
        margin_usdt: Decimal | str,
        budget_limit: Decimal | str,
        max_concurrency: int,
        ttl_ms: int,
    ) -> GateDecision:
        """Take ``margin_usdt`` of the budget and one slot of ``symbol``, both or neither."""
        micro = to_micro("margin", margin_usdt)
        if micro == 0:
            raise ValueError(f"margin must be positive, got {margin_usdt}")
        limit = to_micro("budget limit", budget_limit)
        if max_concurrency < 0 or ttl_ms <= 0:
            raise ValueError(f"need max_concurrency >= 0 and ttl_ms > 0, got {max_concurrency}, {ttl_ms}")
        keys = [
            self._budget,
            self._ks.gate_concurrency(symbol),
            self._ks.gate_reservation(reservation_id),
            self._leases,
        ]
        args: list[str | int] = [
            reservation_id,
            symbol,
            micro,
            limit,
            max_concurrency,
            self._clock.now_ms(),
            ttl_ms,
            self._conc_prefix,
            self._resv_prefix,
            self._tomb,
            self._batch,
        ]
        status, reason, got_symbol, got_micro = await self._reserve(keys=keys, args=args)
        if reason == "CONFLICT":
            raise ReservationConflict(
                f"reservation {reservation_id!r} is held for {got_symbol} {from_micro(got_micro)} USDT, "
                f"asked again for {symbol} {from_micro(micro)} USDT"
            )
        granted = status == "GRANTED"
        return GateDecision(
            reservation_id=reservation_id,
            symbol=symbol,
            margin_usdt=from_micro(got_micro),
            granted=granted,
            reason=None if granted else Refusal(reason),
            duplicate=reason == "DUPLICATE",
        )

    async def release(self, reservation_id: str) -> Released:
        """Give back exactly what the reservation took; a second release gives back nothing."""
        keys = [self._budget, self._ks.gate_reservation(reservation_id), self._leases]
        status, _state, symbol, micro = await self._release(
            keys=keys, args=[reservation_id, self._conc_prefix, self._tomb]
        )
        done = status == "RELEASED"
        return Released(reservation_id, done, symbol, from_micro(micro) if done else Decimal(0))

    async def renew(self, reservation_id: str, ttl_ms: int) -> bool:
        """Extend a held reservation's lease to now + ttl_ms; False if it is not held."""
        if ttl_ms <= 0:
            raise ValueError(f"ttl_ms must be positive, got {ttl_ms}")
        keys = [self._ks.gate_reservation(reservation_id), self._leases]
        return bool(await self._renew(keys=keys, args=[reservation_id, self._clock.now_ms(), ttl_ms]))

    async def reclaim_expired(self) -> list[str]:
        """Give back the budget of leases that ran out (up to one batch); return their ids."""
        now = self._clock.now_ms()
        args: list[str | int] = [now, self._conc_prefix, self._resv_prefix, self._tomb, self._batch]
        ids: list[str] = await self._reclaim(keys=[self._budget, self._leases], args=args)
        return ids

    async def usage(self, symbols: Sequence[str]) -> GateUsage:
        """Read the budget in use and the open slots of ``symbols`` (one slot: one MGET)."""
        keys = [self._budget, *(self._ks.gate_concurrency(s) for s in symbols)]
        values = await self._client.mget(keys)
        return GateUsage(
            budget_inuse=from_micro(str(values[0] or 0)),
            concurrency={s: int(str(v or 0)) for s, v in zip(symbols, values[1:], strict=True)},
        )
