"""Idempotency records for the spec's keys (intent_id, client_order_id, signal_id, transfer_id, ...).

The first caller of ``claim`` stores its value with a TTL and goes ahead; a redelivered event
finds the record and gets the first caller's value back (e.g. the client_order_id already sent).
"""

from __future__ import annotations

from dataclasses import dataclass

from sinks.redis.client import RedisClient
from sinks.redis.keys import Keyspace
from sinks.redis.scripts import preload, register


@dataclass(frozen=True, slots=True)
class Claim:
    first: bool  # True: this caller stored the record and should carry out the effect
    value: str  # the stored value (this caller's when first, the earlier caller's otherwise)


class Idempotency:
    def __init__(self, client: RedisClient, keyspace: Keyspace) -> None:
        self._client = client
        self._ks = keyspace
        self._claim = register(client, "idem_claim")

    async def load(self) -> None:
        await preload(self._claim)

    async def claim(self, kind: str, key: str, ttl_ms: int, value: str) -> Claim:
        """SET NX PX the record ``idem:{kind}:key``; say whether this caller was first."""
        if not isinstance(ttl_ms, int) or ttl_ms <= 0:
            raise ValueError(f"idempotency {kind}/{key}: ttl_ms must be a positive int, got {ttl_ms!r}")
        if not isinstance(value, str):
            raise TypeError(f"idempotency {kind}/{key}: value must be a str, got {type(value).__name__}")
        first, stored = await self._claim(keys=[self._ks.idem(kind, key)], args=[value, ttl_ms])
        return Claim(bool(first), stored)

    async def get(self, kind: str, key: str) -> str | None:
        value = await self._client.get(self._ks.idem(kind, key))
        return None if value is None else str(value)
