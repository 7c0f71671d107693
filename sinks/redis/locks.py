"""Locks with a holder token and a TTL (DESIGN §4): always expire, released only by their holder.

A holder that dies leaves the lock to expire; a holder that outlives its TTL finds ``extend``
and ``release`` answer False, and must treat the work it guarded as no longer exclusive.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sinks.redis.client import RedisClient
from sinks.redis.scripts import preload, register


class LockBusy(RuntimeError):
    """The lock is held by another token."""


def _check(name: str, token: str, ttl_ms: int | None = None) -> None:
    if not name or not token:
        raise ValueError("a lock needs a key name and a non-empty holder token")
    if ttl_ms is not None and (not isinstance(ttl_ms, int) or ttl_ms <= 0):
        raise ValueError(f"lock {name!r}: ttl_ms must be a positive int, got {ttl_ms!r}")


class Locks:
    """Lock keys come from ``Keyspace.lock_*``; tokens should be unique per holder (worker + task)."""

    def __init__(self, client: RedisClient) -> None:
        self._acquire = register(client, "lock_acquire")
        self._release = register(client, "lock_release")
        self._extend = register(client, "lock_extend")

    async def load(self) -> None:
        await preload(self._acquire, self._release, self._extend)

    async def acquire(self, name: str, token: str, ttl_ms: int) -> bool:
        """Take the lock (or refresh it, if this token holds it); False if another token holds it."""
        _check(name, token, ttl_ms)
        return bool(await self._acquire(keys=[name], args=[token, ttl_ms]))

    async def release(self, name: str, token: str) -> bool:
        """Delete the lock only if this token holds it."""
        _check(name, token)
        return bool(await self._release(keys=[name], args=[token]))

    async def extend(self, name: str, token: str, ttl_ms: int) -> bool:
        """Reset the TTL only if this token holds the lock."""
        _check(name, token, ttl_ms)
        return bool(await self._extend(keys=[name], args=[token, ttl_ms]))

    @asynccontextmanager
    async def held(self, name: str, token: str, ttl_ms: int) -> AsyncIterator[None]:
        """Hold the lock for a block; raise LockBusy if another token has it."""
        if not await self.acquire(name, token, ttl_ms):
            raise LockBusy(f"lock {name!r} is held by another holder")
        try:
            yield
        finally:
            await self.release(name, token)
