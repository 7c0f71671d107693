"""The idempotency record of a transfer_id in Redis (``idem:{transfer}:<id>``, SET NX with a TTL).

The first caller claims it with the request's fingerprint; the holder of the route lock then
overwrites it at every state change (SET XX KEEPTTL), so a repeat learns the fingerprint (a
different body is a conflict), the last state (SUBMITTED: the venue may have moved money) and,
once final, the answer to give back without touching anything.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from agents.connectors.treasury.machine import Status
from agents.connectors.treasury.models import TransferResponse
from sinks.redis import Idempotency, Keyspace, RedisClient

KIND = "transfer"
CLAIMED = "CLAIMED"  # claimed, nothing done yet


@dataclass(frozen=True, slots=True)
class Record:
    fingerprint: str
    holder: str
    status: str  # CLAIMED or a Status
    version: int = 0
    message: str = ""

    @property
    def final(self) -> bool:
        return self.status in Status.__members__ and Status(self.status).is_final

    def response(self, transfer_id: str) -> TransferResponse:
        return TransferResponse(transfer_id=transfer_id, result=Status(self.status), message=self.message)

    def encode(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def decode(cls, text: str) -> Record:
        return cls(**json.loads(text))


@dataclass(frozen=True, slots=True)
class Claimed:
    first: bool
    record: Record


class TransferRecords:
    def __init__(self, client: RedisClient, keyspace: Keyspace, ttl_ms: int) -> None:
        self._client = client
        self._ks = keyspace
        self._idem = Idempotency(client, keyspace)
        self._ttl_ms = ttl_ms

    async def load(self) -> None:
        await self._idem.load()

    async def get(self, transfer_id: str) -> Record | None:
        text = await self._idem.get(KIND, transfer_id)
        return None if text is None else Record.decode(text)

    async def claim(self, transfer_id: str, record: Record) -> Claimed:
        got = await self._idem.claim(KIND, transfer_id, self._ttl_ms, record.encode())
        return Claimed(got.first, Record.decode(got.value))

    async def put(self, transfer_id: str, record: Record) -> None:
        """Overwrite the record, keeping its TTL; only the route lock's holder calls this."""
        key = self._ks.idem(KIND, transfer_id)
        if not await self._client.set(key, record.encode(), xx=True, keepttl=True):
            # expired while we held it (a TTL shorter than a transfer): store it afresh
            await self._client.set(key, record.encode(), px=self._ttl_ms)

    async def forget(self, transfer_id: str) -> None:
        """Operators only (and tests simulating a lost Redis): the ClickHouse record still guards."""
        await self._client.delete(self._ks.idem(KIND, transfer_id))
