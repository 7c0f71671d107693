"""Shell: the guard records ``guard:{stop}:<symbol>:<intent_id>`` (a hash: armed, armed_at, the
stop, the entry and exit orders, state). The watcher itself runs in the core on market ticks;
this record is what operators, the reconciler and the UI see of it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sinks.redis import Keyspace, RedisClient


class GuardRecords:
    def __init__(self, client: RedisClient, keyspace: Keyspace, ttl_ms: int) -> None:
        self._client = client
        self._ks = keyspace
        self._ttl_ms = ttl_ms

    async def write(self, symbol: str, intent_id: str, fields: Mapping[str, str]) -> None:
        key = self._ks.guard_stop(symbol, intent_id)
        # one slot (one key): a transaction keeps the fields and their TTL together
        async with self._client.pipeline(transaction=True) as pipe:
            # the key's parts may contain ':' (ccxt symbols): keep them as fields for whoever scans
            mapping: dict[Any, Any] = {**fields, "symbol": symbol, "intent_id": intent_id}
            pipe.hset(key, mapping=mapping)
            pipe.pexpire(key, self._ttl_ms)
            await pipe.execute()

    async def read(self, symbol: str, intent_id: str) -> dict[str, str]:
        return await self.read_key(self._ks.guard_stop(symbol, intent_id))

    async def read_key(self, key: str) -> dict[str, str]:
        raw = await self._client.hgetall(key)
        return {str(k): str(v) for k, v in raw.items()}
