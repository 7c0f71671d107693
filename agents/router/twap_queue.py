"""Shell: the TWAP queue, the ZSet ``prod:{exec}:twap:queue`` (member = the slice, score = due_ts).

A slice leaves the queue only once its send is resolved at the venue, so a router that dies in
between finds it again after a restart; the order's idempotency record then stops a second send.
One key for every symbol and worker: a worker drains only the symbols it owns.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from agents.router.messages import Slice
from sinks.redis import Keyspace, RedisClient


class TwapQueue:
    def __init__(self, client: RedisClient, keyspace: Keyspace) -> None:
        self._client = client
        self._key = keyspace.exec_twap_queue()

    async def add(self, slices: Iterable[Slice]) -> None:
        mapping = {s.member(): s.due_ts for s in slices}
        if mapping:
            await self._client.zadd(self._key, mapping)

    async def due(self, now: int, owns: Callable[[str], bool], limit: int = 500) -> list[Slice]:
        """The slices due by event time ``now``, earliest first (of the symbols this worker owns)."""
        raw: list[Any] = await self._client.zrangebyscore(
            self._key, "-inf", now, start=0, num=limit, withscores=True
        )
        out = [Slice.from_member(str(m), int(score)) for m, score in raw]
        return [s for s in out if owns(s.intent.symbol)]

    async def next_due(self) -> int | None:
        first = await self._client.zrange(self._key, 0, 0, withscores=True)
        return int(first[0][1]) if first else None

    async def remove(self, s: Slice) -> None:
        await self._client.zrem(self._key, s.member())

    async def remove_intent(self, intent_id: str) -> int:
        """Drop every queued slice of an intent (a cancel). Scans the queue: it holds only the
        slices still to come, a small set."""
        gone = [m async for m, _ in self._client.zscan_iter(self._key) if f'"intent_id":"{intent_id}"' in m]
        if gone:
            await self._client.zrem(self._key, *gone)
        return len(gone)

    async def members(self) -> list[tuple[str, int]]:
        raw: list[Any] = await self._client.zrange(self._key, 0, -1, withscores=True)
        return [(str(m), int(score)) for m, score in raw]
