"""Two replays of the real BTC month, end to end on the real Kafka: the replay core publishes the bars
as ``mkt.perp`` batches, one ``chimera worker --services features,strategy`` runs S2 and S3, the daily
regime job writes ``prod:{regime}:market:state`` before each day, the default bundle (from the store)
decides. Each replay has its own topic prefix, Redis key prefix and ClickHouse database; both must
give the same decisions, the same ids and the same ``signals`` rows.

A slice, not the whole month, by default: ``CHIMERA_TEST_REPLAY_DAYS`` days from 2022-01-20 (5; the
regime job needs 15 complete days before its first label). There is no position manager in the
worker, so nothing releases the entry gate: the bundle's lease is set to 2 h of event time so that
entries keep coming (the gate gives an expired lease's budget back, in event time).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from agent_kit import Rig, RigFactory, decisions, intents, read_to_end

from agents.config.cli import DEFAULT_BUNDLE
from agents.connectors.marketdata import MicroBatcher
from agents.connectors.recordings import load_file
from agents.connectors.replay import replay_records
from agents.features.agent import CONFIG as S2_CONFIG
from agents.features.config import RegimeConfig
from agents.features.core import step
from agents.features.regime import DAY_MS
from agents.features.regime_job import closes_from_signals, kafka_metric_sender, run_regime_job
from agents.features.state import FeatureState
from agents.features.ticks import ticks_from_batch
from chimera.model import TestClock
from sinks.clickhouse.server_backend import ServerBackend
from sinks.redis import make_client
from tests.agents.connectors.market_fixtures import BTC_MONTH
from tests.agents.worker_kit import WorkerFactory, publish
from topics.market import MarketBatch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "features"))
from features_kit import load_bars

pytestmark = [pytest.mark.kafka, pytest.mark.redis, pytest.mark.clickhouse, pytest.mark.slow]

DAYS = int(os.environ.get("CHIMERA_TEST_REPLAY_DAYS", "5"))
START = 1_642_636_800_000  # 2022-01-20 00:00 UTC
REGIME = RegimeConfig(lookback_days=30, min_history=15)
DAY_TIMEOUT_S = 120.0


def bundle_doc() -> dict[str, Any]:
    doc = json.loads(DEFAULT_BUNDLE.read_text())
    doc["bundle_id"] = "replay"
    doc["strategy"]["gate_lease_ttl_ms"] = 2 * 3_600_000
    return dict(doc)


class Day:
    """The replay core's messages for one day, and how many feature events S2's core makes of them."""

    def __init__(self) -> None:
        self.batcher = MicroBatcher(60_000, 256, 5)  # `chimera replay`'s defaults: one bar per batch
        self.s2 = FeatureState(symbol="BTCUSDT")
        self.events: list[dict[str, Any]] = []

    def messages(self, day_start: int) -> list[tuple[bytes, bytes]]:
        records = (r for r in load_file(BTC_MONTH) if day_start <= r.ts < day_start + DAY_MS)
        out: list[tuple[bytes, bytes]] = []
        replay_records(records, lambda _t, key, value: out.append((key.encode(), value)), self.batcher, "")
        for _, value in out:
            ticks = ticks_from_batch(MarketBatch.decode(value), S2_CONFIG.depth_levels)
            self.s2, evs = step(self.s2, ticks, S2_CONFIG)
            self.events += [dict(e) for e in evs]
        return out


async def regime_job(rig: Rig, as_of: int, ts: np.ndarray, close: np.ndarray) -> str:
    client = make_client(url=rig.redis_url)
    try:
        rec, _ = await run_regime_job(
            client,
            rig.keyspace,
            ts,
            close,
            as_of,
            REGIME,
            TestClock(as_of),
            kafka_metric_sender(rig.bootstrap, rig.prefix),
        )
        return str(rec["regime"])
    finally:
        await client.aclose()


def replay(rig: Rig, make_worker: WorkerFactory, bars: tuple[np.ndarray, np.ndarray]) -> dict[str, Any]:
    bundle = rig.load(bundle_doc())
    rig.activate(bundle)
    with rig.redis() as r:
        r.set(rig.keyspace.health_system_state(), "GREEN")
    worker = rig.worker(make_worker).start(services="features,strategy")
    sig = rig.reader("sig.events")
    day = Day()
    labels = []
    for d in range(DAYS):
        as_of = START + d * DAY_MS
        labels.append(asyncio.run(regime_job(rig, as_of, *bars)))
        publish(rig.bootstrap, rig.topic("mkt.perp"), day.messages(as_of))
        n = len(day.events)  # S3 decides each of them before the next day's label is written
        sig.read_until(lambda vs: len(vs) >= n, DAY_TIMEOUT_S, worker)  # noqa: B023
    feats = rig.reader("feat.events")
    read_to_end(feats)
    orders = rig.reader("ord.intents")
    read_to_end(orders)
    rows = rig.wait_signals(len(day.events))
    worker.assert_alive()
    return {
        "rev": bundle.rev,
        "labels": labels,
        "core_events": day.events,
        "features": [json.loads(v) for v in feats.values()],
        "decisions": [d.model_dump(mode="json") for d in decisions(sig)],
        "intents": [i.model_dump(mode="json") for i in intents(orders)],
        "rows": rows,
    }


def test_two_replays_of_the_btc_month_decide_identically(
    make_rig: RigFactory, make_worker: WorkerFactory
) -> None:
    bars = load_bars()
    closes = (bars["ts"].to_numpy(np.int64) + 60_000, bars["close"].to_numpy(np.float64))  # stamped at close
    first_rig, second_rig = make_rig("a"), make_rig("b")
    first = replay(first_rig, make_worker, closes)
    second = replay(second_rig, make_worker, closes)

    ds = first["decisions"]
    assert len(ds) == len(first["core_events"]) > DAYS * 1_400  # one decision per closed bar
    for key in ("rev", "labels", "features", "decisions", "intents", "rows"):
        # NaN (a null number in signals) is not equal to itself: compare the JSON forms
        assert json.dumps(first[key], sort_keys=True) == json.dumps(second[key], sort_keys=True), key
    # S2 in the worker is S2's core; S3 decided each of its events, in order
    assert [{k: v for k, v in e.items() if k != "v"} for e in first["features"]] == first["core_events"]
    assert [d["signal_id"] for d in ds] == [e["signal_id"] for e in first["core_events"]]
    reasons = Counter(d["reason"] for d in ds)
    opens = [d for d in ds if d["action"] == "open"]
    assert len(first["intents"]) == len(opens) > 0
    assert {i["signal_id"] for i in first["intents"]} == {d["signal_id"] for d in opens}
    assert len({i["intent_id"] for i in first["intents"]}) == len(opens)
    assert reasons["NO_SIGNAL"] > 0 and reasons["RISK_BUDGET"] > 0 and reasons["DATA_QUALITY"] > 0
    assert {r["signal_id"]: r["reason"] for r in first["rows"]} == {d["signal_id"]: d["reason"] for d in ds}
    # the regime job can read its closes back from the signals rows S3 wrote
    backend = ServerBackend(first_rig.clickhouse_url, first_rig.database)
    try:
        t0, close = closes_from_signals(backend, "BTCUSDT", START, START + DAYS * DAY_MS)
    finally:
        backend.close()
    csv = dict(zip(closes[0].tolist(), closes[1].tolist(), strict=True))
    assert len(t0) == len(ds) and all(csv[t] == c for t, c in zip(t0.tolist(), close.tolist(), strict=True))
    print(
        f"\n{DAYS} days from 2022-01-20, regimes {first['labels']}: {len(ds):,} decisions, {len(opens)} opens"
    )
    for reason, n in reasons.most_common():
        print(f"  {reason:<22} {n:>6,}")
