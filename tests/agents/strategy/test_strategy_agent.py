"""S3's Faust agent in a real worker (``chimera worker --services strategy``) on the real Kafka, Redis and
clickhouse-server: feature events in, decisions on ``sig.events``, entries on ``ord.intents`` and
``signals`` rows out; the bundle comes from the config store (loaded and activated as the CLI does)."""

from __future__ import annotations

import json
import threading
from collections import Counter
from decimal import Decimal

import pytest
from agent_kit import Rig, bundle_doc, decisions, intents, read_to_end
from strategy_kit import MINUTE, T0, event

from agents.features.core import FEATURES, FeatureEvent
from tests.agents.worker_kit import WorkerFactory, publish
from topics.envelope import DeadLetter

pytestmark = [pytest.mark.kafka, pytest.mark.redis, pytest.mark.clickhouse]

N_SIGNALS = 20
N_POSITIONS = 5
SYMBOLS = [f"S{i:02d}USDT" for i in range(N_SIGNALS)]
TIMEOUT_S = 60.0


def crosses(symbols: list[str]) -> list[FeatureEvent]:
    """Per symbol a bar below (fast < slow), then one above: a cross up on the second bar of each."""
    below = [event(s, T0 - MINUTE, fast=99.0, slow=100.0, close=50_000.0) for s in symbols]
    return below + [event(s, T0, close=50_000.0) for s in symbols]


def test_a_budget_for_n_opens_exactly_n_and_every_skip_says_why(rig: Rig, make_worker: WorkerFactory) -> None:
    bundle = rig.load(bundle_doc("budget", SYMBOLS, margin_budget_usdt=str(100 * N_POSITIONS)))
    rig.activate(bundle)
    rig.set_inputs()
    worker = rig.worker(make_worker).start(services="strategy")
    rig.send_features(crosses(SYMBOLS))

    sig = rig.reader("sig.events")
    sig.read_until(lambda vs: len(vs) >= 2 * N_SIGNALS, TIMEOUT_S, worker)
    ds = decisions(sig)
    reasons = Counter(d.reason for d in ds)
    assert reasons == {
        "NO_SIGNAL": N_SIGNALS,
        "EMA_CROSS_UP": N_POSITIONS,
        "RISK_BUDGET": N_SIGNALS - N_POSITIONS,
    }
    assert {d.config_rev for d in ds} == {bundle.rev} and all(d.reason for d in ds)

    orders = rig.reader("ord.intents")
    read_to_end(orders)
    sent = intents(orders)
    opened = {d.signal_id for d in ds if d.action == "open"}
    assert len(sent) == N_POSITIONS and {i.signal_id for i in sent} == opened
    assert {(i.qty, i.exec, i.source, i.reason) for i in sent} == {
        (Decimal("0.010"), "market", "strategy", "ENTRY")
    }
    assert [k for k, _, _ in orders.records] == [i.symbol.encode() for i in sent]  # keyed by symbol

    rows = rig.wait_signals(2 * N_SIGNALS)
    assert len(rows) == 2 * N_SIGNALS
    assert Counter(r["reason"] for r in rows) == reasons
    assert {r["config_rev"] for r in rows} == {bundle.rev} and {r["config_bundle_id"] for r in rows} == {
        "budget"
    }
    assert rows[0]["feature_names"] == list(FEATURES)  # S2's part of the row rides along
    assert {r["signal_id"] for r in rows} == {d.signal_id for d in ds}
    worker.assert_alive()


def test_the_kill_switch_lets_no_intent_out(rig: Rig, make_worker: WorkerFactory) -> None:
    rig.activate(rig.load(bundle_doc("kill", SYMBOLS, margin_budget_usdt="100000")))
    rig.set_inputs()
    rig.set_kill_switch("ON")
    worker = rig.worker(make_worker).start(services="strategy")
    rig.send_features(crosses(SYMBOLS))

    sig = rig.reader("sig.events")
    sig.read_until(lambda vs: len(vs) >= 2 * N_SIGNALS, TIMEOUT_S, worker)
    assert {d.reason for d in decisions(sig)} == {"KILL_SWITCH"}
    orders = rig.reader("ord.intents")
    read_to_end(orders)
    assert orders.records == []
    worker.assert_alive()


def test_a_reload_mid_stream_never_mixes_two_bundles_in_one_decision(
    rig: Rig, make_worker: WorkerFactory
) -> None:
    """Every bar crosses (the sign flips each bar), so every decision after the first sizes an entry
    with its bundle's rule: A halves the size and widens the stop x1.5, B sizes x0.8 and the stop x2.
    B is activated while the events stream in; each decision's numbers, and its intent's stop, must
    be those of the rev it records, and the revs switch once, in processing order."""
    n_events = 600

    def rules(size: float, sl: float) -> dict[str, object]:
        then = {"size_mult": size, "sl_mult": sl}
        rule = {"name": "all", "priority": 1, "when": "features.close > 0", "then": then}
        return {"rules": [rule], "margin_budget_usdt": "100000000", "max_concurrency_per_symbol": 1_000_000}

    a = rig.load(bundle_doc("reload", **rules(0.5, 1.5)))
    b = rig.load(bundle_doc("reload", **rules(0.8, 2.0)))
    assert a.rev != b.rev
    rig.activate(a)
    rig.set_inputs()
    worker = rig.worker(make_worker).start(services="strategy")
    events = [
        event(t0=T0 + i * MINUTE, fast=101.0 if i % 2 == 0 else 99.0, slow=100.0, close=50_000.0)
        for i in range(n_events)
    ]
    sig = rig.reader("sig.events")
    sender = threading.Thread(target=lambda: [rig.send_features([e]) for e in events[n_events // 4 :]])
    rig.send_features(events[: n_events // 4])
    sender.start()
    sig.read_until(lambda vs: len(vs) >= n_events // 4, TIMEOUT_S, worker)
    rig.activate(b)  # while the sender still publishes, one event at a time
    sender.join()
    sig.read_until(lambda vs: len(vs) >= n_events, TIMEOUT_S, worker)

    ds = decisions(sig)
    expected = {a.rev: (0.5, 1.5), b.rev: (0.8, 2.0)}
    revs = [d.config_rev for d in ds]
    switch = revs.index(b.rev)
    assert 0 < switch < n_events - 1 and revs == [a.rev] * switch + [b.rev] * (n_events - switch)
    assert [d.ts for d in ds] == [e["t0"] for e in events]  # one partition, in order
    for d in ds[1:]:
        assert d.action == "open" and (d.size_mult, d.sl_mult) == expected[d.config_rev], d
    by_signal = {d.signal_id: d for d in ds}
    orders = rig.reader("ord.intents")
    read_to_end(orders)
    sent = intents(orders)
    assert len(sent) == n_events - 1
    for i in sent:
        # SL at 1.5 ATR (50) x the bundle's sl_mult from the 50000 reference
        distance = abs(Decimal("50000") - (i.sl_price or Decimal(0)))
        assert distance == Decimal("75") * Decimal(str(expected[by_signal[i.signal_id].config_rev][1]))
    rows = rig.wait_signals(n_events)
    assert {r["signal_id"]: r["config_rev"] for r in rows} == {d.signal_id: d.config_rev for d in ds}
    worker.assert_alive()


def test_events_delivered_again_after_a_restart_decide_the_same_and_reserve_nothing_twice(
    rig: Rig, make_worker: WorkerFactory
) -> None:
    """The worker restarts (its table comes back from the changelog) and then gets every event again,
    as when S2 re-sends after its own crash (same signal_ids): each is answered from the state's
    history, the gate finds the entries' reservations held, and the intents it sends again are the
    same intents (same ids, same content) for S4 to drop.

    Not done by rewinding the group's offsets under the restart: Faust 0.15.3 then drops events
    fetched while it seeks to the committed offsets (see the report), which is Faust's, not S3's."""
    rig.activate(rig.load(bundle_doc("again", SYMBOLS, margin_budget_usdt="300")))
    rig.set_inputs()
    first = rig.worker(make_worker).start(services="strategy")
    rig.send_features(crosses(SYMBOLS))
    sig = rig.reader("sig.events")
    sig.read_until(lambda vs: len(vs) >= 2 * N_SIGNALS, TIMEOUT_S, first)
    first.stop()

    second = rig.worker(make_worker).start(services="strategy")
    rig.send_features(crosses(SYMBOLS))
    sig.read_until(lambda vs: len(vs) >= 4 * N_SIGNALS, TIMEOUT_S, second)
    ds = decisions(sig)
    before, after = ds[: 2 * N_SIGNALS], ds[2 * N_SIGNALS :]
    key = lambda d: d.signal_id  # noqa: E731  (partitions interleave differently on each run)
    assert sorted(after, key=key) == sorted(before, key=key)
    assert Counter(d.reason for d in before)["EMA_CROSS_UP"] == 3
    orders = rig.reader("ord.intents")
    read_to_end(orders)
    sent = intents(orders)
    assert len(sent) == 6 and len({i.intent_id for i in sent}) == 3 and len(set(sent)) == 3
    assert rig.budget_in_use(SYMBOLS) == (Decimal(300), 3)  # held once each, not twice
    assert len(rig.wait_signals(2 * N_SIGNALS)) == 2 * N_SIGNALS  # a row written again folds into itself
    second.assert_alive()


def test_events_that_cannot_be_decided_go_to_the_dlq_and_the_stream_goes_on(
    rig: Rig, make_worker: WorkerFactory
) -> None:
    rig.activate(rig.load(bundle_doc("dlq", ["BTCUSDT"])))
    rig.set_inputs()
    worker = rig.worker(make_worker).start(services="strategy")
    below = event(t0=T0 - 2 * MINUTE, fast=99.0, slow=100.0)
    tiny = event(t0=T0 - MINUTE, close=0.001)  # a cross, at a close that is 0 on the 0.01 tick
    publish(rig.bootstrap, rig.topic("feat.events"), [(b"BTCUSDT", b"{not json")])
    rig.send_features([below, tiny, event(t0=T0, fast=99.0, slow=100.0), event(t0=T0 + MINUTE)])

    sig = rig.reader("sig.events")
    sig.read_until(lambda vs: len(vs) >= 3, TIMEOUT_S, worker)
    assert [(d.ts, d.reason) for d in decisions(sig)] == [
        (T0 - 2 * MINUTE, "NO_SIGNAL"),
        (T0, "NO_SIGNAL"),  # the refused bar left no trace in the state: -1 -> -1
        (T0 + MINUTE, "EMA_CROSS_UP"),
    ]
    dlq = rig.reader("dlq.feat.events")
    dlq.read_until(lambda vs: len(vs) >= 2, TIMEOUT_S, worker)
    letters = [DeadLetter.decode(v) for v in dlq.values()]
    assert "(json)" in letters[0].reason
    assert letters[1].reason.startswith("S3 cannot decide: close 0.001 is not a positive price")
    assert json.loads(letters[1].raw_bytes())["signal_id"] == tiny["signal_id"]
    worker.assert_alive()
