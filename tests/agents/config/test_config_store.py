"""The store on the real stack (clickhouse-server 18.16 and chdb, Redis, Kafka): load records bundles
(refused ones too, never activatable), activate writes config_active, cfg:{active} and a ConfigEvent
on cfg.events; GET /active answers from Redis, else from ClickHouse; the follower installs the
active bundle at start and each activation after it, and keeps its bundle on a bad event."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
import redis
from click.testing import CliRunner
from config_kit import T0, doc

from agents.config.active import ActiveConfig
from agents.config.bundle import BundleRefused
from agents.config.cli import DEFAULT_BUNDLE, config
from agents.config.http import create_app
from agents.config.kafka import ConfigFollower
from agents.config.store import ConfigStore, UnknownBundle
from chimera.model import TestClock
from chimera.settings import get_settings
from sinks.clickhouse.backend import ClickHouseBackend
from sinks.clickhouse.migrate import migrate
from sinks.clickhouse.server_backend import ServerBackend
from sinks.redis import Keyspace, RedisClient
from tests.agents.worker_kit import Reader, publish
from topics.ops import ConfigEvent

pytestmark = [pytest.mark.kafka, pytest.mark.redis]


def rows(backend: ClickHouseBackend, sql: str) -> list[tuple[Any, ...]]:
    return list(backend.query(sql).rows)


def config_events(kafka_bootstrap: str, prefix: str, n: int) -> list[ConfigEvent]:
    reader = Reader(kafka_bootstrap, f"{prefix}cfg.events")
    try:
        reader.read_until(lambda vs: len(vs) >= n, 30.0)
        assert [k for k, _, _ in reader.records] == [
            ConfigEvent.decode(v).bundle_id.encode() for v in reader.values()
        ]
        return [ConfigEvent.decode(v) for v in reader.values()]
    finally:
        reader.close()


async def test_load_then_activate_writes_the_record_the_switch_and_the_announcement(
    store: ConfigStore,
    backend: ClickHouseBackend,
    redis_client: RedisClient,
    kafka_bootstrap: str,
    prefix: str,
    clock: TestClock,
) -> None:
    first = await store.load(json.dumps(doc()), "alice")
    assert first.new and first.parent_rev == ""
    assert not (await store.load(json.dumps(doc()), "alice")).new  # the same content again: nothing new
    clock.advance(1_000)
    second = await store.load(json.dumps(doc(leverage=2)), "bob")
    assert second.parent_rev == first.bundle.rev
    got = rows(
        backend,
        "SELECT bundle_id, rev, parent_rev, author, status, lint_ok, ts "
        "FROM config_bundles FINAL ORDER BY ts",
    )
    assert got == [
        ("b1", first.bundle.rev, "", "alice", "LOADED", 1, T0),
        ("b1", second.bundle.rev, first.bundle.rev, "bob", "LOADED", 1, T0 + 1_000),
    ]

    assert await store.active() is None
    ev1 = await store.activate("b1", first.bundle.rev, actor="alice")
    ev2 = await store.activate("b1")  # the newest loaded rev
    assert (ev1.rev, ev1.previous_rev, ev2.rev, ev2.previous_rev) == (
        first.bundle.rev, None, second.bundle.rev, first.bundle.rev,
    )  # fmt: skip
    assert rows(backend, "SELECT version, bundle_id, rev FROM config_active FINAL") == [
        (2, "b1", second.bundle.rev)
    ]
    raw = await redis_client.get(Keyspace(prefix).cfg_active())
    assert json.loads(raw) == {"bundle_id": "b1", "rev": second.bundle.rev}
    assert config_events(kafka_bootstrap, prefix, 2) == [ev1, ev2]
    snap = await store.active_bundle()
    assert snap is not None and snap.rev == second.bundle.rev and snap.strategy.leverage == 2

    # without the Redis key (a flushed cache), the record answers
    await redis_client.delete(Keyspace(prefix).cfg_active())
    ref = await store.active()
    assert ref is not None and ref.rev == second.bundle.rev


async def test_a_refused_bundle_is_recorded_with_its_reasons_and_can_never_be_activated(
    store: ConfigStore, backend: ClickHouseBackend
) -> None:
    bad = json.dumps(
        doc(rules=[{"name": "typo", "priority": 1, "when": "features.rvv > 1", "then": {"size_mult": 0.5}}])
    )
    with pytest.raises(BundleRefused, match=r"rule 'typo': unknown feature features\.rvv"):
        await store.load(bad)
    [(status, ok, messages)] = rows(backend, "SELECT status, lint_ok, lint_messages FROM config_bundles")
    assert (status, ok) == ("REFUSED", 0) and "rule 'typo'" in messages[0]
    with pytest.raises(UnknownBundle, match="no valid bundle b1"):
        await store.activate("b1")
    assert await store.active() is None


async def test_get_active_answers_the_active_bundle_or_404(store: ConfigStore) -> None:
    transport = httpx.ASGITransport(app=create_app(store))
    async with httpx.AsyncClient(transport=transport, base_url="http://s10") as client:
        assert (await client.get("/active")).status_code == 404
        loaded = await store.load(json.dumps(doc()))
        await store.activate("b1")
        reply = await client.get("/active")
    assert (reply.status_code, reply.json()) == (200, {"bundle_id": "b1", "rev": loaded.bundle.rev})


async def test_the_follower_installs_the_active_bundle_then_every_activation_and_skips_bad_events(
    store: ConfigStore, kafka_bootstrap: str, prefix: str
) -> None:
    a = (await store.load(json.dumps(doc()))).bundle
    b = (await store.load(json.dumps(doc(leverage=3)))).bundle
    await store.activate("b1", a.rev)
    holder = ActiveConfig()
    follower = ConfigFollower(kafka_bootstrap, f"{prefix}cfg.events", holder, store.fetch, store.active, 20)
    started = asyncio.Event()
    task = asyncio.create_task(follower.run(started))
    try:
        await asyncio.wait_for(started.wait(), 30)
        assert holder.current().rev == a.rev  # from cfg:{active}, not from replaying the topic
        await asyncio.to_thread(publish, kafka_bootstrap, f"{prefix}cfg.events", [(b"b1", b"{garbage")])
        unknown = ConfigEvent(bundle_id="b1", rev="0000000000000000", ts=T0)
        await asyncio.to_thread(publish, kafka_bootstrap, f"{prefix}cfg.events", [(b"b1", unknown.encode())])
        await store.activate("b1", b.rev)
        for _ in range(300):
            if holder.current().rev == b.rev:
                break
            await asyncio.sleep(0.05)
        assert holder.current().rev == b.rev and holder.current().strategy.leverage == 3
        assert follower.applied == [a.rev, b.rev] and follower.rejected == 2
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


@pytest.mark.clickhouse
def test_the_cli_loads_activates_and_shows(
    kafka_bootstrap: str, redis_url: str, clickhouse_url: str, unique_name: str, tmp_path: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    backend = ServerBackend(clickhouse_url, unique_name[:60])
    migrate(backend)
    env = {
        "CHIMERA_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "CHIMERA_TOPIC_PREFIX": f"{unique_name}.",
        "CHIMERA_REDIS_URL": redis_url,
        "CHIMERA_REDIS_KEY_PREFIX": f"{unique_name}.",
        "CHIMERA_CLICKHOUSE_BACKEND": "server",
        "CHIMERA_CLICKHOUSE_URL": clickhouse_url,
        "CHIMERA_CLICKHOUSE_DATABASE": backend.database,
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        shown = runner.invoke(config, ["show"])
        assert shown.exit_code == 1 and "no bundle is active" in shown.output

        bad = tmp_path / "bad.json"
        bad.write_text(
            json.dumps(
                doc(rules=[{"name": "r9", "priority": 1, "when": "feature.rv > 1", "then": {"size_mult": 1}}])
            )
        )
        refused = runner.invoke(config, ["load", str(bad)])
        assert (
            refused.exit_code == 2
            and "refused: strategy: rule 'r9': only features.<name> may use a dot" in refused.output
        )

        loaded = runner.invoke(config, ["load", str(DEFAULT_BUNDLE)])
        assert loaded.exit_code == 0, loaded.output
        rev = loaded.output.split()[-1]
        active = runner.invoke(config, ["activate", "default"])
        assert active.exit_code == 0 and f"active default rev {rev} (was none)" in active.output
        shown = runner.invoke(config, ["show"])
        assert shown.exit_code == 0 and "rules: wide_spread, hot_vol, funding_against_longs" in shown.output
        as_json = json.loads(runner.invoke(config, ["show", "--json"]).output)
        assert (as_json["bundle_id"], as_json["rev"]) == ("default", rev)
    finally:
        get_settings.cache_clear()
        backend.execute(f"DROP DATABASE IF EXISTS {backend.database}")
        backend.close()
        with redis.Redis.from_url(redis_url) as r:
            for key in r.scan_iter(match=f"{unique_name}.*"):
                r.unlink(key)
