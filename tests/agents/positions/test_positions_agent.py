"""S6's Faust agent in a real worker (``chimera worker --services positions``) on the real Kafka,
Redis and clickhouse-server: an ATR on ``feat.events``, an open decision on ``sig.events``, the
entry's fill on ``ord.results`` and ticks on ``mkt.perp`` in; the stop and take-profit intents on
``ord.intents``, OPEN / EXIT on ``pos.events``, ``positions_snapshots`` rows and the gate given back
out — each the pure core's own output for the same events in the same order."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from positions_kit import BTC, ENTRY, SIGNAL, T0, D, entry_fill, fill, result

from agents.config.bundle import parse_bundle
from agents.connectors.marketdata import MarketEvent, MicroBatcher
from agents.positions import core
from agents.positions.context import Ctx
from agents.positions.events import Event, Publish, SendIntent, Snapshot
from agents.positions.inputs import atr_of, plan_of, tick_of
from agents.positions.intents import ENTRY_LEG
from agents.positions.policy import fut_instruments, policy_for
from chimera.model import Market, OrderStatus, OrderType, Side, SignalId, intent_id_for
from sinks.redis import EntryGate, Keyspace, make_client
from tests.agents.worker_kit import Reader, Worker, publish, wait_for
from tests.integration.pipeline_kit import Made, Stack, pipeline_bundle
from topics.codec import encode
from topics.market import MarketBatch
from topics.trading import Decision, FeatureEvent, IntentMessage, OrderIntent, PositionEvent

pytestmark = [pytest.mark.kafka, pytest.mark.redis, pytest.mark.clickhouse]

TIMEOUT_S = 60.0
BUNDLE = pipeline_bundle()
STRATEGY = parse_bundle(BUNDLE).strategy
CTX = Ctx(policy_for(STRATEGY), fut_instruments(STRATEGY)[BTC])


@pytest.fixture
def made(
    kafka_bootstrap: str, redis_url: str, clickhouse_url: str, unique_name: str, tmp_path: Path
) -> Iterator[Made]:
    m = Made(kafka_bootstrap, redis_url, clickhouse_url, unique_name[:50], tmp_path)
    yield m
    m.close()


def feature(atr: float, t0: int) -> FeatureEvent:
    return FeatureEvent(
        signal_id=SIGNAL, t0=t0, symbol=BTC, features={"atr": atr, "close": 40_000.0}, config_rev="r1"
    )


def decision(t0: int) -> Decision:
    return Decision(
        signal_id=SIGNAL, symbol=BTC, ts=t0, action="open", side=Side.BUY, size_mult=1.0, sl_mult=1.0,
        tp_mult=1.0, reason="EMA_CROSS_UP", config_rev="r1",
    )  # fmt: skip


def batch(price: str, ts: int) -> MarketBatch:
    batcher = MicroBatcher(60_000, 256, 5)
    ev = MarketEvent(ts=ts, symbol=BTC, market=Market.FUT, kind="k", price=D(price), qty=D("1"))
    [b] = batcher.add(ev) + batcher.flush()
    return b


class Feed:
    """Events to the worker one at a time (S6 reads five topics: their order across topics is the
    order they are consumed in, so each waits for the previous to be folded), and the pure core
    fed the same events in the same order."""

    def __init__(self, stack: Stack, worker: Worker) -> None:
        self.stack, self.worker = stack, worker
        self.book = core.empty(BTC)
        self.expected_intents: list[Any] = []
        self.expected_events: list[PositionEvent] = []
        self.expected_rows = 0
        self.steps = 0

    def send(self, topic: str, record: Any, core_event: Event | None) -> None:
        value = encode(record, topic) if not isinstance(record, MarketBatch) else record.encode()
        publish(self.stack.bootstrap, self.stack.topic(topic), [(BTC.encode(), value)])
        if core_event is not None:
            self.book, effects = core.step(self.book, core_event, CTX)
            self.expected_intents += [e.intent for e in effects if isinstance(e, SendIntent)]
            self.expected_events += [e.event for e in effects if isinstance(e, Publish)]
            self.expected_rows += sum(isinstance(e, Snapshot) for e in effects)
        want = self.book.to_json()
        wait_for(f"{topic} folded into the book", lambda: self.worker.get_json(f"/positions/{BTC}/") == want,
                 TIMEOUT_S, self.worker)  # fmt: skip


def read(stack: Stack, name: str, n: int, worker: Worker) -> list[bytes]:
    r = Reader(stack.bootstrap, stack.topic(name))
    try:
        r.read_until(lambda vs: len(vs) >= n, TIMEOUT_S, worker)
        r.poll()
        return r.values()
    finally:
        r.close()


async def reserve_entry(stack: Stack) -> None:
    """S3's reservation for the entry (its id is the entry's intent_id): S6 gives it back at EXIT."""
    client = make_client(url=stack.redis_url)
    try:
        gate = EntryGate(client, Keyspace(stack.prefix), _Clock(T0), tombstone_ms=3_600_000)
        await gate.load()
        got = await gate.reserve(ENTRY, BTC, "200", "2000", 1, 36 * 3_600_000)
        assert got.granted, got
    finally:
        await client.aclose()


async def gate_usage(stack: Stack) -> tuple[Decimal, int]:
    client = make_client(url=stack.redis_url)
    try:
        usage = await EntryGate(client, Keyspace(stack.prefix), _Clock(T0)).usage([BTC])
        return usage.budget_inuse, usage.concurrency[BTC]
    finally:
        await client.aclose()


class _Clock:
    def __init__(self, now: int) -> None:
        self.now = now

    def now_ms(self) -> int:
        return self.now


def test_the_agent_protects_and_closes_a_position_as_the_core_does(made: Made) -> None:
    stack = made.stack()
    stack.prepare(BUNDLE)
    asyncio.run(reserve_entry(stack))
    worker = made.worker(stack).start(services="positions", timeout_s=120)
    feed = Feed(stack, worker)

    f = feature(120.0, T0)
    feed.send("feat.events", f, atr_of(f))
    d = decision(T0)
    feed.send("sig.events", d, plan_of(d))
    entry = entry_fill("40000", "0.015", T0 + 1_000)
    feed.send("ord.results", entry, entry)
    intents = [IntentMessage.model_validate_json(v).root for v in read(stack, "ord.intents", 2, worker)]
    sl = next(i for i in intents if isinstance(i, OrderIntent) and i.sl_price is not None)
    tp = next(i for i in intents if isinstance(i, OrderIntent) and i.tp_price is not None)
    assert (sl.exec, sl.reduce_only, sl.side, sl.qty) == ("sl_tp", True, Side.SELL, D("0.015"))
    assert sl.sl_price == D("40000") - D("1.5") * D("120") and tp.tp_price == D("40000") + D("3") * D("120")
    # the venue rests both (S4 would report them NEW), a tick moves nothing yet
    for leg, type_ in ((sl, OrderType.STOP_MARKET), (tp, OrderType.TAKE_PROFIT_MARKET)):
        ack = result(leg.intent_id, leg.side, OrderStatus.NEW, ts=T0 + 2_000, qty=str(leg.qty), type_=type_,
                     reduce_only=True, pos_id=leg.pos_id, stop=str(leg.sl_price or leg.tp_price))  # fmt: skip
        feed.send("ord.results", ack, ack)
    b = batch("40050", T0 + 60_000)
    feed.send("mkt.perp", b, tick_of(b))
    # the stop fills: EXIT, the take-profit cancelled, the gate given back
    out = result(sl.intent_id, Side.SELL, OrderStatus.FILLED, ts=T0 + 90_000, qty="0.015", version=1,
                 fills=[fill("s1", str(sl.sl_price), "0.015", T0 + 90_000)], reduce_only=True,
                 pos_id=sl.pos_id, type_=OrderType.STOP_MARKET)  # fmt: skip
    feed.send("ord.results", out, out)
    feed.send("ord.results", out, out)  # redelivered: nothing new

    sent = [
        IntentMessage.model_validate_json(v).root
        for v in read(stack, "ord.intents", len(feed.expected_intents), worker)
    ]
    assert [i.model_dump() for i in sent] == [i.model_dump() for i in feed.expected_intents]
    assert any(i.op == "cancel" and i.target_intent_id == tp.intent_id for i in sent)
    events = [PositionEvent.decode(v) for v in read(stack, "pos.events", len(feed.expected_events), worker)]
    assert events == feed.expected_events and [e.kind for e in events] == ["OPEN", "EXIT"]
    assert events[-1].reason == "SL" and events[-1].qty == 0
    assert asyncio.run(gate_usage(stack)) == (D(0), 0)
    redis_keys = list(stack.redis().scan_iter(match=f"{stack.prefix}pos:*"))
    assert redis_keys == [], redis_keys  # the mirror is cleared at the close
    rows = wait_for(
        "positions_snapshots rows",
        lambda: (
            (r := stack.query("SELECT * FROM positions_snapshots FINAL ORDER BY seq"))
            and len(r) >= feed.expected_rows
            and r
        ),
        TIMEOUT_S,
        worker,
    )
    assert len(rows) == feed.expected_rows and rows[-1]["status"] == "CLOSED"
    worker.assert_alive()


def test_bad_records_are_dead_lettered_and_other_symbols_pass_by(made: Made) -> None:
    stack = made.stack()
    stack.prepare(BUNDLE)
    worker = made.worker(stack).start(services="positions", timeout_s=120)
    other = json.loads(feature(50.0, T0).model_dump_json())
    other["symbol"] = "ETHUSDT"
    other["signal_id"] = f"sig-ETHUSDT-{T0}-test"
    publish(stack.bootstrap, stack.topic("feat.events"), [(b"ETHUSDT", json.dumps(other).encode())])
    bad = json.loads(feature(1.0, T0).model_dump_json())
    bad["features"]["atr"] = "wide"  # not a number: the contract refuses it
    publish(stack.bootstrap, stack.topic("feat.events"), [(BTC.encode(), json.dumps(bad).encode())])
    publish(stack.bootstrap, stack.topic("ord.results"), [(BTC.encode(), b"{not json")])
    letters = read(stack, "dlq.ord.results", 1, worker) + read(stack, "dlq.feat.events", 1, worker)
    assert len(letters) == 2
    f = feature(80.0, T0 + 60_000)
    publish(stack.bootstrap, stack.topic("feat.events"), [(BTC.encode(), encode(f, "feat.events"))])
    wait_for(
        "the ATR after the bad records",
        lambda: Decimal((worker.get_json(f"/positions/{BTC}/") or {}).get("atr") or 0) == 80,
        TIMEOUT_S,
        worker,
    )
    assert worker.get_json("/positions/ETHUSDT/") is None  # not a bundle instrument: not S6's
    worker.assert_alive()


def test_the_workers_policy_is_the_in_process_engines() -> None:
    """Backtest/live parity: S6 in a worker manages positions by the policy the engine derives, but
    for how long a closed position is kept: over Kafka a result can come again after a restart, as
    late as the group's last commit (seconds of wall time, an hour of a fast replay's event time),
    and a position forgotten by then would be opened again by its entry's fill."""
    from agents.engine.config import positions_for

    bundle = parse_bundle(BUNDLE)
    worker = policy_for(bundle.strategy)
    assert worker.closed_retention_ms == 24 * 3_600_000
    assert worker.model_copy(update={"closed_retention_ms": 600_000}) == positions_for(bundle)


def test_a_bundle_activated_while_the_worker_runs_changes_the_policy_of_what_comes_next(made: Made) -> None:
    """Hot reload: bundle B (its own ``positions`` section: first stop at 2.5 ATR, take-profit at
    4 ATR, one add-on) is activated on ``cfg.events`` while the worker manages a position opened
    under A (the derived policy: 1.5 / 3 ATR). The worker swaps to B's policy whole: the next
    entry is protected by B's levels, and the open position is left as it was (its stop stands)."""
    stack = made.stack()
    a = pipeline_bundle()
    stack.prepare(a)
    worker = made.worker(stack).start(services="positions", timeout_s=120)
    wait_for("A's policy", lambda: (worker.get_json("/s6/policy/") or {}).get("rev") == parse_bundle(a).rev,
             TIMEOUT_S, worker)  # fmt: skip
    atr = feature(120.0, T0)
    publish(stack.bootstrap, stack.topic("feat.events"), [(BTC.encode(), encode(atr, "feat.events"))])

    def open_position(signal: str, ts: int, n_before: int) -> tuple[OrderIntent, OrderIntent]:
        d = decision(ts).model_copy(update={"signal_id": signal})
        publish(stack.bootstrap, stack.topic("sig.events"), [(BTC.encode(), encode(d, "sig.events"))])
        wait_for("the plan", lambda: signal in json.dumps(worker.get_json(f"/positions/{BTC}/") or {}),
                 TIMEOUT_S, worker)  # fmt: skip
        entry_id = intent_id_for(SignalId(signal), ENTRY_LEG)
        entry = result(entry_id, Side.BUY, OrderStatus.FILLED, ts=ts + 1_000,
                       fills=[fill(f"e-{ts}", "40000", "0.015", ts + 1_000)], signal_id=signal)  # fmt: skip
        publish(stack.bootstrap, stack.topic("ord.results"), [(BTC.encode(), encode(entry, "ord.results"))])
        got = [
            IntentMessage.model_validate_json(v).root
            for v in read(stack, "ord.intents", n_before + 2, worker)
        ]
        legs = [i for i in got[n_before:] if isinstance(i, OrderIntent)]
        sl = next(i for i in legs if i.sl_price is not None)
        tp = next(i for i in legs if i.tp_price is not None)
        return sl, tp

    sl_a, tp_a = open_position(SIGNAL, T0, 0)
    assert (sl_a.sl_price, tp_a.tp_price) == (D("40000") - D("1.5") * 120, D("40000") + D("3") * 120)

    b = pipeline_bundle()
    b["bundle_id"] = "pipeline-b"
    cfg_b = policy_for(STRATEGY).model_dump(mode="json")
    cfg_b.update(initial_sl_atr="2.5", tp=[{"trigger": "4", "fraction": "1"}])
    cfg_b["add_on"]["max_adds"] = 1
    b["positions"] = cfg_b
    stack.prepare(b)  # loaded, activated, announced on cfg.events
    rev_b = parse_bundle(b).rev
    policy = wait_for("B's policy", lambda: (p := worker.get_json("/s6/policy/")) and p["rev"] == rev_b and p,
                      TIMEOUT_S, worker)  # fmt: skip
    assert policy["config"]["initial_sl_atr"] == "2.5" and policy["config"]["add_on"]["max_adds"] == 1

    second = f"sig-{BTC}-{T0 + 300_000}-test"
    sl_b, tp_b = open_position(second, T0 + 300_000, 2)
    assert (sl_b.sl_price, tp_b.tp_price) == (D("40000") - D("2.5") * 120, D("40000") + D("4") * 120)
    book = worker.get_json(f"/positions/{BTC}/")
    first = next(p for p in book["positions"].values() if p["signal_id"] == SIGNAL)
    # the position opened under A keeps the stop it had (nothing re-placed by the reload itself)
    assert [(p["role"], D(p["price"])) for p in first["protects"]] == [
        ("SL", sl_a.sl_price),
        ("TP", tp_a.tp_price),
    ]
    assert first["max_adds"] == 0  # A's add-on limit, fixed at its entry
    worker.assert_alive()
