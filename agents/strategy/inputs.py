"""Shell: read S3's inputs from Redis in one round trip (a non-transactional pipeline, which a
Cluster splits per node) and parse them into a :class:`Ctx`.

The writers (S12 kill switch, S2 regime job, S11 health, S1 funding) do not fix a format yet, so
parsing is lenient but fails closed where it matters:

- ``prod:{kill_switch}``: missing, "", "0", "off", "false" -> OFF; "1", "on", "true" -> ON;
  anything else -> ON (an unreadable switch must not let entries through).
- ``prod:{regime}:market:state``: JSON as ``agents.features.regime.classify`` returns it
  (``regime``, ``expires_at``), or a bare regime name; unreadable -> None (L0 skips REGIME).
- ``prod:{health}:system:state``: a bare level or JSON with ``level``; unreadable -> passed on
  as is, so L0 skips HEALTH; missing -> None (the config's ``health_default``).
- ``funding:{next}:<symbol>``: JSON with ``rate`` or a bare number; unreadable -> None.
"""

from __future__ import annotations

import json
import math
from typing import Any

from agents.strategy.config import StrategyConfig
from agents.strategy.context import Ctx
from sinks.redis import Keyspace, RedisClient

_OFF = frozenset({"", "0", "off", "false", "no"})
_ON = frozenset({"1", "on", "true", "yes"})


def _json(raw: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return None


def parse_kill_switch(raw: str | None) -> bool:
    if raw is None:
        return False
    v = raw.strip().lower()
    return v not in _OFF  # ON, and anything unreadable


def parse_regime(raw: str | None) -> tuple[str | None, int | None]:
    if raw is None:
        return None, None
    doc = _json(raw)
    if isinstance(doc, dict):
        regime, expires = doc.get("regime"), doc.get("expires_at")
        ok_exp = isinstance(expires, int) and not isinstance(expires, bool)
        return (regime if isinstance(regime, str) else None), (expires if ok_exp else None)
    v = raw.strip()
    return (v.upper() if v.isalpha() else None), None


def parse_health(raw: str | None) -> str | None:
    if raw is None:
        return None
    doc = _json(raw)
    if isinstance(doc, dict):
        level = doc.get("level")
        return level if isinstance(level, str) else raw
    return raw.strip().strip('"').upper()


def parse_funding(raw: str | None) -> float | None:
    if raw is None:
        return None
    doc = _json(raw)
    value = doc.get("rate") if isinstance(doc, dict) else doc
    try:
        rate = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return rate if math.isfinite(rate) else None


async def read_ctx(client: RedisClient, keyspace: Keyspace, cfg: StrategyConfig, symbol: str) -> Ctx:
    keys = [
        keyspace.kill_switch(),
        keyspace.regime_market_state(),
        keyspace.health_system_state(),
        keyspace.funding_next(symbol),
    ]
    async with client.pipeline(transaction=False) as pipe:
        for k in keys:
            pipe.get(k)
        kill, regime_raw, health_raw, funding_raw = await pipe.execute()
    regime, expires = parse_regime(regime_raw)
    return Ctx(
        cfg=cfg,
        kill_switch=parse_kill_switch(kill),
        regime=regime,
        regime_expires_at=expires,
        health=parse_health(health_raw),
        funding=parse_funding(funding_raw),
    )
