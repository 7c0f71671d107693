"""The unpinned regime on the Kafka path: the driver runs S2's daily job as the engine does, from
the closes on ``feat.events``, and S3 reads the same record at every decision as in the engine.

Eight days of real BTC closes (5-minute bars) as the worker would put them on ``feat.events``,
on real Apache Kafka; per bar, the driver is called before "its batch" (last tick at the bar's
close) and the feature event is published after, as the paced replay does; the engine's
``RegimeClock`` is fed the same events its way (observe, then before each decision). The record
in each keyspace when the decision is made must be the same, and labels must come out (five prior
days needed).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from demo_kit import BTC_CSV

from agents.config.bundle import parse_bundle
from agents.connectors.recordings import load_file
from agents.demo.cli import DEFAULT_BUNDLE
from agents.demo.kafka_regime import DriverRegime
from agents.engine.config import EngineConfig
from agents.engine.regime import RegimeClock
from sinks.redis import Keyspace, RedisClient, make_client
from topics.admin import delete_topics, ensure_topics
from topics.producer import make_producer

pytestmark = [pytest.mark.kafka, pytest.mark.redis]
BAR_MS = 300_000
DAYS = 8


def closes() -> list[tuple[int, float]]:
    """(bar close time, close) of the first DAYS days of the BTC month, 5-minute bars."""
    out: dict[int, float] = {}
    records = load_file(BTC_CSV)
    first = None
    for r in records:
        first = first or r.ts
        if r.ts >= first + DAYS * 86_400_000:
            break
        price = getattr(r, "price", None)
        if price is not None:
            out[(r.ts // BAR_MS + 1) * BAR_MS] = float(price)
    return sorted(out.items())


@pytest.fixture
async def redis(redis_url: str, unique_name: str) -> AsyncIterator[RedisClient]:
    client = make_client(url=redis_url, client_name=unique_name)
    yield client
    async for key in client.scan_iter(match=f"{unique_name}*", count=500):
        await client.unlink(key)
    await client.aclose()


async def test_the_driver_publishes_each_days_regime_as_the_engine_does(
    kafka_bootstrap: str, redis: RedisClient, unique_name: str
) -> None:
    bundle = parse_bundle(Path(DEFAULT_BUNDLE).read_text())
    prefix = f"{unique_name}.k."
    ensure_topics(kafka_bootstrap, prefix, 2, names=["feat.events"])
    engine_ks = Keyspace(f"{unique_name}.e.")
    engine = RegimeClock(redis, engine_ks, "BTCUSDT", EngineConfig().regime_config)
    driver = await DriverRegime.open(redis, prefix, bundle, None, kafka_bootstrap)
    assert driver is not None
    seen_engine: list[bytes | str | None] = []
    seen_driver: list[bytes | str | None] = []
    producer = make_producer(kafka_bootstrap, acks="all", **{"linger.ms": 0})
    try:
        for t0, close in closes():
            await driver.before(t0)  # the batch whose last tick closes this bar
            seen_driver.append(await redis.get(Keyspace(prefix).regime_market_state()))
            doc = {"symbol": "BTCUSDT", "t0": t0, "features": {"close": close}}
            producer.produce(f"{prefix}feat.events", json.dumps(doc).encode(), b"BTCUSDT")
            producer.flush(30)  # on the topic before the next batch, as the barrier makes sure
            engine.observe("BTCUSDT", t0, close)
            await engine.before_decision(t0)
            seen_engine.append(await redis.get(engine_ks.regime_market_state()))
    finally:
        driver.close()
        delete_topics(kafka_bootstrap, [f"{prefix}feat.events", f"{prefix}dlq.feat.events"])
    assert seen_driver == seen_engine
    labels = {json.loads(r)["regime"] for r in seen_engine if r is not None}
    assert labels and len(engine.published) == len(driver.published) >= 2, (labels, engine.published)
