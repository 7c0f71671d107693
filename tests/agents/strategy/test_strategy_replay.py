"""Two replays of the real BTC month, end to end on the real Kafka: the replay core publishes the bars
as ``mkt.perp`` batches, one ``chimera worker --services features,strategy`` runs S2 and S3, the daily
regime job writes ``prod:{regime}:market:state`` before each day, the default bundle (from the store)
decides. Each replay has its own topic prefix, Redis key prefix and ClickHouse database; both must
give the same decisions, the same ids and the same ``signals`` rows.

The whole month by default (33 days, 2021-12-31 23:01 to 2022-02-01 05:31 UTC: ~45,000 decisions,
~2.5 min here with the two replays at once); ``CHIMERA_TEST_REPLAY_DAYS=N`` replays N days from
2022-01-20, or the N days ending with the recording when there are fewer after it. A day
with fewer than 5 prior days (``min_history``) has no label (the job is not run, the key is absent):
S3 skips its bars with ``REGIME``, as a deployment without the history would. There is no position
manager in the worker, so nothing releases the entry gate: the bundle's lease is set to 2 h of event
time so that entries keep coming (the gate gives an expired lease's budget back, in event time).

The per-day barrier (label written, day published, every decision read before the next label) is
what the regime job asks for; the rest of the per-day cost was the test's own, now gone: the
recording is parsed once (it was parsed again for each day); S2's reference is computed once,
before any worker runs (a pure function of the replay core's messages, which each replay makes
itself and which must be equal); the job's Redis client and metric producer are opened once per
replay; and the two replays run at the same time, two worker processes and a test thread each
(the ids must agree however the two interleave; each worker gets a core where there is one).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from agent_kit import Rig, RigFactory, decisions, intents, read_to_end

from agents.config.bundle import parse_bundle
from agents.config.cli import DEFAULT_BUNDLE
from agents.connectors.marketdata import MicroBatcher
from agents.connectors.recordings import Record, load_file
from agents.connectors.replay import replay_records
from agents.features.config import FeatureConfig, RegimeConfig
from agents.features.core import step
from agents.features.regime import DAY_MS, daily_realised_vol
from agents.features.regime_job import closes_from_signals, kafka_metric_sender, run_regime_job
from agents.features.state import FeatureState
from agents.features.ticks import ticks_from_batch
from chimera.model import TestClock
from sinks.clickhouse.server_backend import ServerBackend
from sinks.redis import RedisClient, make_client
from tests.agents.connectors.market_fixtures import BTC_MONTH
from tests.agents.worker_kit import Worker, WorkerFactory, publish
from topics.market import MarketBatch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "features"))
from features_kit import load_bars

pytestmark = [pytest.mark.kafka, pytest.mark.redis, pytest.mark.clickhouse, pytest.mark.slow]

DAYS = int(os.environ.get("CHIMERA_TEST_REPLAY_DAYS", "33"))
FIRST_DAY = 1_640_908_800_000  # 2021-12-31 00:00 UTC: the recording starts at 23:01
LAST_DAY = 1_643_673_600_000  # 2022-02-01 00:00 UTC: it ends at 05:31
START = min(1_642_636_800_000, LAST_DAY - (DAYS - 1) * DAY_MS)  # 2022-01-20 00:00 UTC, or earlier
REGIME = RegimeConfig(lookback_days=30, min_history=5)
DAY_TIMEOUT_S = 120.0
assert DAYS >= 1 and START >= FIRST_DAY, f"CHIMERA_TEST_REPLAY_DAYS={DAYS}: the recording has 33 days"


def bundle_doc() -> dict[str, Any]:
    doc = json.loads(DEFAULT_BUNDLE.read_text())
    doc["bundle_id"] = "replay"
    doc["strategy"]["gate_lease_ttl_ms"] = 2 * 3_600_000
    return dict(doc)


def day_messages(records: list[Record], batcher: MicroBatcher) -> list[list[tuple[bytes, bytes]]]:
    """The replay core's messages per day of the slice (one batcher across days, as one replay)."""
    days: list[list[tuple[bytes, bytes]]] = []
    for d in range(DAYS):
        lo = START + d * DAY_MS
        out: list[tuple[bytes, bytes]] = []
        day = (r for r in records if lo <= r.ts < lo + DAY_MS)
        replay_records(day, lambda _t, key, value: out.append((key.encode(), value)), batcher, "")  # noqa: B023
        days.append(out)
    return days


def new_batcher() -> MicroBatcher:
    return MicroBatcher(60_000, 256, 5)  # `chimera replay`'s defaults: one bar per batch


def core_events(days: list[list[tuple[bytes, bytes]]], cfg: FeatureConfig) -> list[list[dict[str, Any]]]:
    """Per day, the feature events S2's core makes of the messages (fed in order, one state)."""
    state, out = FeatureState(symbol="BTCUSDT"), []
    for messages in days:
        evs: list[dict[str, Any]] = []
        for _, value in messages:
            ticks = ticks_from_batch(MarketBatch.decode(value), cfg.depth_levels)
            state, got = step(state, ticks, cfg)
            evs += [dict(e) for e in got]
        out.append(evs)
    return out


class RegimeJob:
    """S2's daily job as the replay runs it: one event loop, Redis client and metric producer."""

    def __init__(self, rig: Rig, bars: tuple[np.ndarray, np.ndarray]) -> None:
        self.rig, self.bars = rig, bars
        self.runner = asyncio.Runner()
        self.client: RedisClient = self.runner.run(self._client())
        self.send = kafka_metric_sender(rig.bootstrap, rig.prefix)

    async def _client(self) -> RedisClient:
        return make_client(url=self.rig.redis_url)

    def labels(self, as_of: int) -> bool:
        """Whether the job has the history to label ``as_of`` (its days as regime_record counts them)."""
        ts, close = self.bars
        known = ts <= as_of
        days, _ = daily_realised_vol(ts[known] - 1, close[known])
        return int(np.count_nonzero(days + DAY_MS <= as_of)) - 1 >= REGIME.min_history

    async def _run(self, as_of: int) -> str:
        if not self.labels(as_of):  # no label yet: S3 reads none
            await self.client.delete(self.rig.keyspace.regime_market_state())
            return "-"
        rec, _ = await run_regime_job(
            self.client, self.rig.keyspace, *self.bars, as_of, REGIME, TestClock(as_of), self.send
        )
        return str(rec["regime"])

    def run(self, as_of: int) -> str:
        return self.runner.run(self._run(as_of))

    def close(self) -> None:
        self.runner.run(self.client.aclose())
        self.runner.close()


def replay(
    rig: Rig,
    worker: Worker,
    bars: tuple[np.ndarray, np.ndarray],
    records: list[Record],
    events: list[list[dict[str, Any]]],
) -> dict[str, Any]:
    days = day_messages(records, new_batcher())  # this replay's own run of the replay core
    bundle = rig.load(bundle_doc())
    rig.activate(bundle)
    with rig.redis() as r:
        r.set(rig.keyspace.health_system_state(), "GREEN")
    job = RegimeJob(rig, bars)
    worker.start(services="features,strategy")
    sig = rig.reader("sig.events")
    labels, n, began, per_day = [], 0, time.monotonic(), []
    try:
        for d, messages in enumerate(days):
            per_day.append(time.monotonic())
            labels.append(job.run(START + d * DAY_MS))
            publish(rig.bootstrap, rig.topic("mkt.perp"), messages)
            n += len(events[d])  # S3 decides each of them before the next day's label is written
            sig.read_until(lambda vs: len(vs) >= n, DAY_TIMEOUT_S, worker)  # noqa: B023
    finally:
        job.close()
    seconds = time.monotonic() - began
    per_day = [b - a for a, b in zip(per_day, [*per_day[1:], began + seconds], strict=True)]
    feats = rig.reader("feat.events")
    read_to_end(feats)
    orders = rig.reader("ord.intents")
    read_to_end(orders)
    rows = rig.wait_signals(n)
    worker.assert_alive()
    return {
        "rev": bundle.rev,
        "messages": days,
        "labels": labels,
        "features": [json.loads(v) for v in feats.values()],
        "decisions": [d.model_dump(mode="json") for d in decisions(sig)],
        "intents": [i.model_dump(mode="json") for i in intents(orders)],
        "rows": rows,
        "seconds": seconds,
        "per_day": per_day,
    }


def same(a: Any, b: Any) -> bool:
    # NaN (a null number in signals) is not equal to itself: compare the JSON forms
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def first_difference(a: Any, b: Any) -> str:
    if not isinstance(a, list) or not isinstance(b, list):
        return f"{a!r} != {b!r}"
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if not same(x, y):
            return f"first at [{i}]: {x!r} != {y!r}"
    return f"lengths {len(a)} != {len(b)}"


def test_two_replays_of_the_btc_month_decide_identically(
    make_rig: RigFactory, make_worker: WorkerFactory
) -> None:
    bars = load_bars()
    closes = (bars["ts"].to_numpy(np.int64) + 60_000, bars["close"].to_numpy(np.float64))  # stamped at close
    records = list(load_file(BTC_MONTH))
    # S2 runs the active bundle's feature parameters (its rev is in every signal_id)
    events = core_events(day_messages(records, new_batcher()), parse_bundle(bundle_doc()).feature_config())
    expected = [e for day in events for e in day]
    in_slice = np.count_nonzero((closes[0] > START) & (closes[0] <= START + DAYS * DAY_MS))
    first_rig, second_rig = make_rig("a"), make_rig("b")
    workers = [r.worker(make_worker) for r in (first_rig, second_rig)]  # the factory is not thread-safe
    with ThreadPoolExecutor(2) as pool:
        runs = [
            pool.submit(replay, r, w, closes, records, events)
            for r, w in zip((first_rig, second_rig), workers, strict=True)
        ]
        first, second = (run.result() for run in runs)

    ds = first["decisions"]
    # one decision per closed bar: every bar of the slice but its last, still open at the end
    assert len(ds) == len(expected) == in_slice - 1
    assert first["messages"] == second["messages"]  # the replay core, twice
    for key in ("rev", "labels", "features", "decisions", "intents", "rows"):
        assert same(first[key], second[key]), f"{key}: {first_difference(first[key], second[key])}"
    # S2 in the worker is S2's core; S3 decided each of its events, in order
    assert [{k: v for k, v in e.items() if k != "v"} for e in first["features"]] == expected
    assert [d["signal_id"] for d in ds] == [e["signal_id"] for e in expected]
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
    day = time.strftime("%Y-%m-%d", time.gmtime(START / 1000))
    print(
        f"\n{DAYS} days from {day}, regimes {first['labels']}: {len(ds):,} decisions, {len(opens)} opens, "
        f"{len(first['intents'])} intents; replays (at once) {first['seconds']:.0f} s and "
        f"{second['seconds']:.0f} s from the first label to the last decision"
    )
    for run in (first, second):
        print("  s per day:", " ".join(f"{x:.1f}" for x in run["per_day"]))
    for reason, n in reasons.most_common():
        print(f"  {reason:<22} {n:>6,}")
