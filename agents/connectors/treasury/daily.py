"""The rolling-day ledger: what each asset moved in the last window, checked and held atomically.

The daily cap counts every route of an asset, but the lock is per route, so two routes can race:
the check and the hold are one Lua script on one key. The key is a ZSET per asset, member
``<transfer_id>|<units>``, score = when it was held (event time from the injected clock).
Amounts are integer multiples of the asset's step ("units") so Lua adds integers; Lua numbers
are doubles, exact below 2**53, so a limit whose units could reach that is refused up front.

Key: ``treasury:{treasury}:daily:<asset>`` under the keyspace prefix, in the ``{treasury}`` slot
of the treasury locks. It belongs in ``sinks/redis/keys.py`` (``Keyspace.treasury_daily``); it
is built here only because that module is outside this change.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

from sinks.redis import Keyspace, RedisClient

_ASSET = re.compile(r"^[A-Z0-9]{1,20}$")
_EXACT_LIMIT = 2**52  # used + amount <= 2 * limit must stay exact in a Lua double

# KEYS: 1 the asset's window. ARGV: 1 now ms, 2 window ms, 3 member, 4 units, 5 limit units.
# Returns {1 if held, units already used by others (string)}. A member already held (a holder
# that died and is being taken over) stays held once: it was admitted when it was first held.
_RESERVE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', tonumber(ARGV[1]) - tonumber(ARGV[2]))
local used, mine = 0, false
for _, m in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if m == ARGV[3] then mine = true else used = used + tonumber(string.match(m, '|(%d+)$')) end
end
if not mine then
  if used + tonumber(ARGV[4]) > tonumber(ARGV[5]) then return {0, string.format('%.0f', used)} end
  redis.call('ZADD', KEYS[1], ARGV[1], ARGV[3])
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return {1, string.format('%.0f', used)}
"""


@dataclass(frozen=True, slots=True)
class Held:
    reserved: bool
    used: Decimal  # the window's total before this transfer


def daily_key(keyspace: Keyspace, asset: str) -> str:
    if not _ASSET.fullmatch(asset):
        raise ValueError(f"bad asset for a Redis key: {asset!r}")
    return f"{keyspace.prefix}treasury:{{treasury}}:daily:{asset}"


def _units(amount: Decimal, step: Decimal) -> int:
    units = amount / step
    if units != units.to_integral_value():
        raise ValueError(f"{amount} is not a multiple of the step {step}")
    return int(units)


class DailyLedger:
    def __init__(self, client: RedisClient, keyspace: Keyspace) -> None:
        self._client = client
        self._ks = keyspace
        self._reserve = client.register_script(_RESERVE)

    async def load(self) -> None:
        self._reserve.sha = await self._client.script_load(self._reserve.script)

    async def reserve(
        self,
        transfer_id: str,
        asset: str,
        amount: Decimal,
        step: Decimal,
        limit: Decimal,
        now_ms: int,
        window_ms: int,
    ) -> Held:
        limit_units = _units(limit, step)
        if limit_units >= _EXACT_LIMIT:
            raise ValueError(f"{asset}: a daily limit of {limit} at step {step} is too fine to sum exactly")
        member = f"{transfer_id}|{_units(amount, step)}"
        ok, used = await self._reserve(
            keys=[daily_key(self._ks, asset)],
            args=[now_ms, window_ms, member, _units(amount, step), limit_units],
        )
        return Held(bool(ok), Decimal(int(used)) * step)

    async def release(self, transfer_id: str, asset: str, amount: Decimal, step: Decimal) -> None:
        await self._client.zrem(daily_key(self._ks, asset), f"{transfer_id}|{_units(amount, step)}")

    async def used(self, asset: str, now_ms: int, window_ms: int, step: Decimal) -> Decimal:
        """What the window holds now (read-only; for operators and tests)."""
        rows = await self._client.zrangebyscore(daily_key(self._ks, asset), f"({now_ms - window_ms}", "+inf")
        return sum((Decimal(int(str(m).rsplit("|", 1)[1])) * step for m in rows), Decimal(0))
