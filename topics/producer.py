"""The one way to build a confluent-kafka producer, so every producer partitions keys alike.

Faust (aiokafka) and the Java client hash a key with murmur2; librdkafka's default partitioner is
CRC32, which puts the same symbol on another partition. The trading path is co-partitioned by
symbol (DESIGN §1.4), so a replay's ``mkt.perp`` record for BTCUSDT must land where the agents' own
sends for BTCUSDT land.
"""

from __future__ import annotations

from typing import Any

# murmur2 for keyed records, random for unkeyed ones: aiokafka's DefaultPartitioner
PARTITIONER = "murmur2_random"


def producer_config(bootstrap: str, **overrides: Any) -> dict[str, Any]:
    """Return a producer config for ``bootstrap`` with the shared partitioner and ``overrides``."""
    return {"bootstrap.servers": bootstrap, "partitioner": PARTITIONER, **overrides}


def make_producer(bootstrap: str, **overrides: Any) -> Any:
    """Return a confluent-kafka ``Producer`` built from :func:`producer_config`."""
    from confluent_kafka import Producer

    return Producer(producer_config(bootstrap, **overrides))
