"""The S2 features agent in a real worker (``chimera worker --services features``) on real brokers.

Input is the real BTC month's first bars as the replay path makes them (loader → MicroBatcher →
MarketBatch JSON); the expected output is the pure core run on the same batches in the same order.
"""

from __future__ import annotations

import json
import signal
from collections.abc import Sequence
from dataclasses import replace
from decimal import Decimal
from itertools import islice
from typing import Any

import pytest

from agents.connectors.marketdata import MarketEvent, MicroBatcher
from agents.connectors.recordings import load_file
from agents.features.config import FeatureConfig
from agents.features.core import step, step_reference
from agents.features.state import FeatureState
from agents.features.ticks import ticks_from_batch
from chimera.model import Market
from tests.agents.connectors.market_fixtures import BTC_MONTH
from tests.agents.worker_kit import (
    Reader,
    Worker,
    WorkerFactory,
    committed_offsets,
    publish,
    rewind_group,
    wait_for,
)
from topics.envelope import DeadLetter
from topics.market import MarketBatch
from topics.ops import MetricEvent

SYMBOL = "BTCUSDT"
BARS = 100  # > rv_window (60) + 1, so rv and rho get values
WINDOW_MS = 90_000  # a batch holds 1.5 bars: bars are split across batches
CONFIG = FeatureConfig()  # the agent's config (agents.features.agent.CONFIG)
TIMEOUT_S = 30.0
KEY = SYMBOL.encode()


def _batches(events: list[MarketEvent]) -> list[MarketBatch]:
    batcher = MicroBatcher(WINDOW_MS, 256)
    out = [b for ev in events for b in batcher.add(ev)]
    return out + batcher.flush()


def perp_batches(bars: int = BARS) -> list[MarketBatch]:
    events = list(islice(load_file(BTC_MONTH), 4 * bars))
    assert all(isinstance(e, MarketEvent) and e.market is Market.FUT for e in events)
    return _batches(events)  # type: ignore[arg-type]


def spot_batches(bars: int = BARS) -> list[MarketBatch]:
    """The same bars as a spot series 3 s later, off the perpetual by a wandering basis (rho < 1)."""
    out = []
    for i, ev in enumerate(islice(load_file(BTC_MONTH), 4 * bars)):
        assert isinstance(ev, MarketEvent) and ev.price is not None
        basis = Decimal(1) + Decimal((i * 7919) % 13 - 6) / Decimal(20_000)
        price = (ev.price * basis).quantize(Decimal("0.01"))
        out.append(replace(ev, market=Market.SPOT, ts=ev.ts + 3_000, price=price))
    return _batches(out)


def wire(batches: list[MarketBatch]) -> list[tuple[bytes, bytes]]:
    return [(b.symbol.encode(), b.encode()) for b in batches]


def core_run(
    perp: list[MarketBatch], spot: Sequence[MarketBatch] = (), state: FeatureState | None = None
) -> tuple[FeatureState, list[dict[str, Any]]]:
    """What the agent must produce: the reference fed first, then the perpetual batch by batch."""
    state = state or FeatureState(symbol=SYMBOL)
    for b in spot:
        state = step_reference(
            state, ticks_from_batch(MarketBatch.decode(b.encode()), CONFIG.depth_levels), CONFIG
        )
    events: list[dict[str, Any]] = []
    for b in perp:
        state, out = step(
            state, ticks_from_batch(MarketBatch.decode(b.encode()), CONFIG.depth_levels), CONFIG
        )
        events += [dict(e) for e in out]
    return state, events


def feature_events(reader: Reader) -> list[dict[str, Any]]:
    out = []
    for key, value, _ in reader.records:
        event = json.loads(value)
        assert key == event["symbol"].encode()
        assert event.pop("v") == 1
        out.append(event)
    return out


def entry(worker: Worker) -> dict[str, Any] | None:
    value = worker.get_json(f"/features/{SYMBOL}/")
    return value if value is None else dict(value)


def state_of(worker: Worker) -> dict[str, Any] | None:
    e = entry(worker)
    return None if e is None else dict(e["state"])


def topic(worker: Worker, name: str) -> str:
    return worker.env["CHIMERA_TOPIC_PREFIX"] + name


def test_agent_config_is_the_one_this_test_expects() -> None:
    from agents.features.agent import CONFIG as AGENT_CONFIG

    assert AGENT_CONFIG == CONFIG


def test_feature_events_equal_the_pure_core(any_bootstrap: str, make_worker: WorkerFactory) -> None:
    worker = make_worker(any_bootstrap).start()
    spot, perp = spot_batches(), perp_batches()
    ref_state, _ = core_run([], spot)
    publish(any_bootstrap, topic(worker, "mkt.spot"), wire(spot))
    # the reference is in before the perpetual comes: a deterministic interleaving to compare with
    wait_for(
        "the spot series in the table", lambda: state_of(worker) == ref_state.to_dict(), TIMEOUT_S, worker
    )

    publish(any_bootstrap, topic(worker, "mkt.perp"), wire(perp))
    state, expected = core_run(perp, spot)
    reader = Reader(any_bootstrap, topic(worker, "feat.events"))
    reader.read_until(lambda vs: len(vs) >= len(expected), TIMEOUT_S, worker)
    assert feature_events(reader) == expected
    assert len(expected) == BARS - 1  # the last bar is still open
    assert sum(e["features"]["rho"] is not None for e in expected) > 30
    assert 0.5 < expected[-1]["features"]["rho"] < 1.0
    final = entry(worker)
    assert final is not None and final["state"] == state.to_dict()
    assert final["offsets"] == {"mkt.perp": len(perp) - 1, "mkt.spot": len(spot) - 1}
    reader.close()


@pytest.mark.kafka
def test_invalid_batches_go_to_the_dlq_and_the_stream_goes_on(
    kafka_bootstrap: str, make_worker: WorkerFactory
) -> None:
    worker = make_worker(kafka_bootstrap).start()
    perp = perp_batches(12)
    good = perp[0].model_dump()
    bad_rows = MarketBatch.model_construct(**{**good, "qty": good["qty"][:-1]}).model_dump_json().encode()
    negative = MarketBatch.model_validate({**good, "price": [-1.0] * len(good["ts"])}).encode()
    other_key = perp[1].encode()
    records = [
        (KEY, b"{not json"),
        (KEY, bad_rows),  # qty has one row fewer than ts
        (KEY, negative),  # schema-valid; the core refuses it
        (b"ETHUSDT", other_key),  # a BTCUSDT batch under another key would break co-partitioning
        *wire(perp),
    ]
    publish(kafka_bootstrap, topic(worker, "mkt.perp"), records)

    dlq = Reader(kafka_bootstrap, topic(worker, "dlq.mkt.perp"))
    dlq.read_until(lambda vs: len(vs) >= 4, TIMEOUT_S, worker)
    # the ETHUSDT record is on another partition: letters come in partition order, not send order
    letters = {d.raw_bytes(): d for d in map(DeadLetter.decode, dlq.values())}
    assert set(letters) == {value for _, value in records[:4]}
    assert {d.source_topic for d in letters.values()} == {topic(worker, "mkt.perp")}
    assert {(d.key, d.offset) for d in letters.values()} >= {("BTCUSDT", 0), ("BTCUSDT", 1), ("BTCUSDT", 2)}
    reasons = [letters[value].reason for _, value in records[:4]]
    assert "(json)" in reasons[0]
    assert "qty" in reasons[1] and "rows" in reasons[1]
    assert "price must be positive" in reasons[2]
    assert "ETHUSDT" in reasons[3] and letters[records[3][1]].key == "ETHUSDT"

    _, expected = core_run(perp)
    events = Reader(kafka_bootstrap, topic(worker, "feat.events"))
    events.read_until(lambda vs: len(vs) >= len(expected), TIMEOUT_S, worker)
    assert feature_events(events) == expected
    worker.assert_alive()
    assert worker.log_text().count("dead letter ") == 4
    metrics = Reader(kafka_bootstrap, topic(worker, "metrics.events"))
    metrics.read_until(lambda vs: len(vs) >= 4, TIMEOUT_S, worker)
    counted = [MetricEvent.decode(v) for v in metrics.values()]
    assert {(m.service, m.name, m.kind, m.value, m.tags["topic"]) for m in counted} == {
        ("features", "dead_letters", "counter", 1.0, "mkt.perp")
    }
    assert len(counted) == 4
    metrics.close()
    dlq.close()
    events.close()


@pytest.mark.kafka
def test_a_stream_ending_in_a_dead_letter_is_flushed_and_committed(
    kafka_bootstrap: str, make_worker: WorkerFactory
) -> None:
    """S2 works batches in windows closed when the consumer has nothing more to hand over: a window
    whose last record is dead-lettered (no batch follows it) must still send its events, store its
    state and let every offset, the dead letter's too, be committed."""
    worker = make_worker(kafka_bootstrap).start()
    perp = perp_batches(12)
    records = [*wire(perp), (KEY, b"{not json")]
    publish(kafka_bootstrap, topic(worker, "mkt.perp"), records)
    state, expected = core_run(perp)
    events = Reader(kafka_bootstrap, topic(worker, "feat.events"))
    done = lambda: _processed_and_committed(worker, kafka_bootstrap, events, len(expected), len(records))  # noqa: E731
    wait_for("every event out and every offset committed", done, TIMEOUT_S, worker)
    assert feature_events(events) == expected
    final = entry(worker)
    assert final is not None and final["state"] == state.to_dict()
    assert final["offsets"] == {"mkt.perp": len(perp) - 1}
    events.close()


def _processed_and_committed(
    worker: Worker, bootstrap: str, events: Reader, n_events: int, sent: int
) -> bool:
    events.poll()
    if len(events.records) < n_events:
        return False
    done = committed_offsets(bootstrap, topic(worker, "w"), topic(worker, "mkt.perp"))
    return sum(max(offset, 0) for offset in done.values()) == sent


def _latest(reader: Reader) -> dict[bytes | None, bytes]:
    return {key: value for key, value, _ in reader.records}


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "kill9"])
def test_table_is_recovered_from_the_changelog(
    any_bootstrap: str, make_worker: WorkerFactory, stop: signal.Signals
) -> None:
    perp = perp_batches()
    half = len(perp) // 2
    state_1, events_1 = core_run(perp[:half])
    state_2, events_2 = core_run(perp[half:], state=state_1)
    first = make_worker(any_bootstrap).start()
    publish(any_bootstrap, topic(first, "mkt.perp"), wire(perp[:half]))
    events = Reader(any_bootstrap, topic(first, "feat.events"))
    # offsets committed: the successor gets no batch again, so its state can only come from the changelog
    done = lambda: _processed_and_committed(first, any_bootstrap, events, len(events_1), half)  # noqa: E731
    wait_for("the first half processed and committed", done, TIMEOUT_S, first)
    before = entry(first)
    assert before is not None and before["state"] == state_1.to_dict()
    first.stop(stop)

    changelog = Reader(any_bootstrap, topic(first, "w-features-changelog"))
    # one table write per window of batches: the last one carries the state the worker showed
    changelog.read_until(lambda vs: bool(vs) and json.loads(vs[-1]) == before, TIMEOUT_S)
    assert json.loads(_latest(changelog)[KEY]) == before
    assert len(changelog.values()) <= half

    second = make_worker(any_bootstrap).start()  # same prefix and app id
    assert entry(second) == before
    publish(any_bootstrap, topic(second, "mkt.perp"), wire(perp[half:]))
    events.read_until(lambda vs: len(vs) >= len(events_1) + len(events_2), TIMEOUT_S, second)
    assert feature_events(events) == events_1 + events_2
    after = entry(second)
    assert after is not None and after["state"] == state_2.to_dict()
    events.close()
    changelog.close()


@pytest.mark.kafka
def test_redelivered_batches_are_not_folded_twice(kafka_bootstrap: str, make_worker: WorkerFactory) -> None:
    """A worker killed after its changelog write but before its offset commit is handed those
    batches again. Made certain here: the group's offsets go back to 0 under a recovered table."""
    perp = perp_batches()
    half = len(perp) // 2
    state, expected = core_run(perp)
    first = make_worker(kafka_bootstrap).start()
    publish(kafka_bootstrap, topic(first, "mkt.perp"), wire(perp[:half]))
    events = Reader(kafka_bootstrap, topic(first, "feat.events"))
    # stored, not only sent: a batch whose events are out but whose state is not is rightly redone
    stored = lambda: (e := entry(first)) is not None and e["offsets"] == {"mkt.perp": half - 1}  # noqa: E731
    wait_for("the first half in the table", stored, TIMEOUT_S, first)
    before = entry(first)
    first.stop()
    group, perp_topic = topic(first, "w"), topic(first, "mkt.perp")
    rewind_group(kafka_bootstrap, group, perp_topic)
    assert set(committed_offsets(kafka_bootstrap, group, perp_topic).values()) == {0}

    second = make_worker(kafka_bootstrap).start()
    # each of the two ways a redo could hide (the same events and state either way) said apart:
    assert entry(second) == before, "the second worker did not recover the table from its changelog"
    skipped = lambda: "skipping batches already in the table" in second.log_text()  # noqa: E731
    wait_for("the redelivered first half to be skipped", skipped, TIMEOUT_S, second)
    publish(kafka_bootstrap, topic(second, "mkt.perp"), wire(perp[half:]))
    events.read_until(lambda vs: len(vs) >= len(expected), TIMEOUT_S, second)
    events.poll()
    assert feature_events(events) == expected  # no event twice, none computed from a state fed twice
    final = entry(second)
    assert final is not None and final["state"] == state.to_dict()
    events.close()
