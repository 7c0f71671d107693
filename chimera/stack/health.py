"""Health checks that ask each service a real question, each bounded by a short time-out."""

from __future__ import annotations

import logging
import socket
from typing import Any

HOST = "127.0.0.1"

# librdkafka logs every refused connection; a health probe that fails is an answer, not news
_quiet = logging.getLogger("chimera.stack.kafka_probe")
_quiet.addHandler(logging.NullHandler())
_quiet.propagate = False


def port_open(port: int, host: str = HOST, timeout_s: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def kafka_ok(bootstrap: str, timeout_s: float = 2.0) -> bool:
    """The broker answers a metadata request and names at least one broker."""
    host, _, port = bootstrap.rpartition(":")
    if not port_open(int(port), host):
        return False  # spares librdkafka a connect loop against a closed port
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    config: dict[str, Any] = {"bootstrap.servers": bootstrap, "logger": _quiet}
    admin = AdminClient(config)
    try:
        return bool(admin.list_topics(timeout=timeout_s).brokers)
    except KafkaException:
        return False


def redis_ok(port: int, host: str = HOST, timeout_s: float = 1.0) -> bool:
    if not port_open(port, host):
        return False
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    client = redis.Redis(
        host=host,
        port=port,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        retry=Retry(NoBackoff(), 0),  # a probe asks once; the caller's loop is the retry
    )
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


def http_ping_ok(url: str, timeout_s: float = 1.0) -> bool:
    """GET ``url`` answers 200 ``Ok.`` (the chdb owner's, and clickhouse-server's, /ping)."""
    import httpx

    try:
        resp = httpx.get(url, timeout=timeout_s)
    except httpx.HTTPError:
        return False
    return resp.status_code == 200 and resp.text.strip() == "Ok."
