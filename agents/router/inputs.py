"""Shell: what the router reads from Redis for a decision, in one round trip.

- ``prod:{kill_switch}``: missing, "", "0", "off", "false", "no" -> OFF; anything else -> ON (an
  unreadable switch must not let entries through). The same reading as S3's.
- ``prod:{health}:system:state``: a bare level or JSON with ``level``; missing -> None (GREEN).
- ``router:{param}:curves``: :func:`agents.router.config.parse_params`; an unreadable record
  keeps the last good parameters and is reported.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from agents.router.config import DEFAULT_PARAMS, RouterParams, parse_params
from sinks.redis import Keyspace, RedisClient

_OFF = frozenset({"", "0", "off", "false", "no"})


def parse_kill_switch(raw: str | None) -> bool:
    return raw is not None and raw.strip().lower() not in _OFF


def parse_health(raw: str | None) -> str | None:
    if raw is None:
        return None
    try:
        doc = json.loads(raw)
    except ValueError:
        doc = raw
    if isinstance(doc, dict):
        doc = doc.get("level")
    return str(doc).strip().upper() if doc is not None else None


@dataclass(frozen=True, slots=True)
class Inputs:
    kill_switch: bool
    health: str | None
    params: RouterParams
    params_error: str | None = None


async def read_inputs(client: RedisClient, ks: Keyspace, last_good: RouterParams = DEFAULT_PARAMS) -> Inputs:
    # a non-transactional pipeline: on a Cluster the three keys live on different slots
    async with client.pipeline(transaction=False) as pipe:
        pipe.get(ks.kill_switch())
        pipe.get(ks.health_system_state())
        pipe.get(ks.router_param_curves())
        kill, health, curves = await pipe.execute()
    params, error = parse_params(curves, last_good)
    return Inputs(parse_kill_switch(kill), parse_health(health), params, error)
