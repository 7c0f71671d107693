"""The client factory: a single node from redis_url, a Cluster from redis_cluster_nodes."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from chimera.settings import Settings
from sinks.redis import make_client, parse_cluster_nodes


def test_cluster_nodes_parse_and_bad_entries_are_named() -> None:
    assert parse_cluster_nodes("127.0.0.1:17001, h2:17002") == [("127.0.0.1", 17001), ("h2", 17002)]
    for bad in ("127.0.0.1", "h:0", "h:port", ":1", "h:1,"):
        with pytest.raises(ValueError, match="redis_cluster_nodes"):
            parse_cluster_nodes(bad)


@pytest.mark.redis
async def test_settings_with_a_url_give_a_single_node_client(redis_url: str) -> None:
    client = make_client(Settings(redis_url=redis_url))
    try:
        assert isinstance(client, Redis)
        assert await client.ping()
    finally:
        await client.aclose()


@pytest.mark.redis_cluster
async def test_settings_with_cluster_nodes_give_a_cluster_client(
    redis_cluster_nodes: list[tuple[str, int]],
) -> None:
    spec = ",".join(f"{h}:{p}" for h, p in redis_cluster_nodes)
    client = make_client(Settings(redis_url="redis://unused:1/0", redis_cluster_nodes=spec))
    try:
        assert isinstance(client, RedisCluster)
        assert await client.ping()
        assert len(client.get_primaries()) == 3
    finally:
        await client.aclose()
