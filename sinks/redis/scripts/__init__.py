"""Lua scripts of the Redis sink. ``register`` hands a client one script object per name; redis-py
runs it with EVALSHA and falls back to SCRIPT LOAD once if a node has not seen it (on a Cluster,
SCRIPT LOAD goes to every primary)."""

from __future__ import annotations

from functools import cache
from importlib.resources import files

from redis.commands.core import AsyncScript

from sinks.redis.client import RedisClient

# scripts that call the reclaim() helper get the prelude prepended
_PRELUDES = {"gate_reserve": "gate_prelude", "gate_reclaim": "gate_prelude"}


@cache
def source(name: str) -> str:
    """Return the Lua text of a script, with its prelude."""
    here = files(__name__)
    text = (here / f"{name}.lua").read_text()
    prelude = _PRELUDES.get(name)
    return text if prelude is None else (here / f"{prelude}.lua").read_text() + "\n" + text


def register(client: RedisClient, name: str) -> AsyncScript:
    return client.register_script(source(name))


async def preload(*scripts: AsyncScript) -> None:
    """SCRIPT LOAD now, so the first real call does not pay a NOSCRIPT round trip."""
    for script in scripts:
        script.sha = await script.registered_client.script_load(script.script)
