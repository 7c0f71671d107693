"""Redis client factory: one asyncio client from settings, a single node or a Cluster, same API."""

from __future__ import annotations

from typing import TypeAlias

from redis.asyncio import Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster

from chimera.settings import Settings

RedisClient: TypeAlias = Redis | RedisCluster


def parse_cluster_nodes(spec: str) -> list[tuple[str, int]]:
    """Parse ``"host:port,host:port"`` into seed nodes; a malformed entry is named in the error."""
    nodes: list[tuple[str, int]] = []
    for raw in spec.split(","):
        entry = raw.strip()
        host, sep, port = entry.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"redis_cluster_nodes: bad entry {entry!r} in {spec!r}, want host:port")
        nodes.append((host, int(port)))
    return nodes


def make_client(
    settings: Settings | None = None,
    *,
    url: str | None = None,
    cluster_nodes: str | list[tuple[str, int]] | None = None,
    client_name: str | None = None,
) -> RedisClient:
    """Build the client: ``redis_cluster_nodes`` when set wins over ``redis_url``.

    Keyword overrides serve tests and benchmarks that point at a given server; ``client_name``
    labels every connection (CLIENT LIST) so operators can tell workers apart.
    """
    nodes_spec: str | list[tuple[str, int]] = (
        cluster_nodes if cluster_nodes is not None else (settings.redis_cluster_nodes if settings else "")
    )
    if nodes_spec:
        nodes = parse_cluster_nodes(nodes_spec) if isinstance(nodes_spec, str) else nodes_spec
        return RedisCluster(
            startup_nodes=[ClusterNode(h, p) for h, p in nodes],
            decode_responses=True,
            client_name=client_name,
        )
    target = url if url is not None else (settings.redis_url if settings else None)
    if not target:
        raise ValueError("no Redis endpoint: set redis_url or redis_cluster_nodes")
    return Redis.from_url(target, decode_responses=True, client_name=client_name)
