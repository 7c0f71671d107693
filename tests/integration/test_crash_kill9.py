"""Crash safety of the trading path on the real stack: the paced BTC replay of
``test_pipeline_replay`` through one worker (S2, S3, S4, S6) that is killed with SIGKILL three
times — once each at about 20, 40 and 60 % of the input the worker has consumed — and restarted
each time (a new process with the same app id: it recovers its tables from their changelogs and
resumes from its group's committed offsets).

Where the kills land: from each threshold on, batches are published without waiting, and the
worker is killed the moment an intent appears on ``ord.intents`` — the router is then between
claiming a client_order_id in Redis, journaling the call, asking the paper venue and reporting the
result — or, if no intent comes within a few dozen batches, in the middle of a batch. They are
aimed at the order path, not at random instants; a kill between two events proves less.

What it proves, afterwards (SQL over ClickHouse, the topics, and the paper venue's own book):
- no client_order_id has two venue orders or two intents, and no venue order two ids;
- every intent has the orders its style calls for: one for a market order, one per leg of an
  SL/TP, one per TWAP slice at most, none outside the style's names; an order whose send the
  crash cut off before the venue's journal reached the broker is one REJECTED ``NOT_PLACED``
  order (counted; the exchange is the truth and never saw it);
- every trade the venue made is in ``fills`` exactly once, S6's positions (quantity, fees,
  realised PnL) equal a recomputation from their fills, the venue's positions are S6's open ones,
  and the wallet is its start plus what the fills realised less their fees;
- no open position at the venue is without a reduce-only stop for its whole quantity, checked
  right after each restart's recovery, every hour of event time and at the end.

What it does not prove: the paper venue survives because it is re-built from the router table's
image and journal (agents/router/tables.py) — a restart of a real exchange connection is the
same code path minus the image. Kills during a rebalance with several workers are not tried.
"""

from __future__ import annotations

import signal
import time
from collections import Counter

import pytest
from confluent_kafka import Consumer, TopicPartition
from conftest import StackFactory, WorkerFactory
from invariants import books_against_fills, duplicate_client_order_ids, orders_per_intent, unprotected
from pipeline_kit import (
    DAYS,
    SERVICES,
    STEP_TIMEOUT_S,
    PacedReplay,
    Stack,
    agent_crashes,
    get_json,
    intents_sent,
    orders_latest,
    position_events,
    replay_messages,
    settle,
)

from tests.agents.worker_kit import Worker

pytestmark = [pytest.mark.kafka, pytest.mark.redis, pytest.mark.clickhouse, pytest.mark.slow]

KILL_AT = (0.2, 0.4, 0.6)
AIM_BATCHES = 60  # how long to wait for an intent to kill on before killing mid-batch anyway
START_TIMEOUT_S = 120.0


class Intents:
    """How many records ``ord.intents`` holds (sum of its partitions' end offsets)."""

    def __init__(self, stack: Stack) -> None:
        self.topic = stack.topic("ord.intents")
        self.consumer = Consumer({"bootstrap.servers": stack.bootstrap, "group.id": "crash-test-ends"})
        meta = self.consumer.list_topics(self.topic, timeout=10).topics[self.topic]
        self.parts = [TopicPartition(self.topic, p) for p in meta.partitions]

    def count(self) -> int:
        return sum(self.consumer.get_watermark_offsets(tp, timeout=10)[1] for tp in self.parts)

    def close(self) -> None:
        self.consumer.close()


def kill_on_an_intent(replay: PacedReplay, worker: Worker, intents: Intents) -> str:
    """Publish without waiting until an intent shows up, then SIGKILL at once."""
    before = intents.count()
    for _ in range(AIM_BATCHES):
        where = replay.publish_next()
        began = time.monotonic()
        while time.monotonic() - began < STEP_TIMEOUT_S:
            if intents.count() > before:
                worker.stop(signal.SIGKILL)
                return f"batch {replay.next}: on intent #{before + 1}"
            if replay.finished(*where):
                break
            time.sleep(0.001)
    replay.publish_next()
    time.sleep(0.003)  # in the middle of the batch's hops
    worker.stop(signal.SIGKILL)
    return f"batch {replay.next}: mid-batch"


def check_protected(replay: PacedReplay, worker: Worker) -> list[str]:
    partition = replay.partition["mkt.perp"]
    desk = get_json(f"{worker.web}/router/desk/{partition}/")
    return [] if desk is None else unprotected(desk)


def test_kill_9_three_times_loses_and_doubles_nothing(
    make_stack: StackFactory, make_worker: WorkerFactory
) -> None:
    stack = make_stack("")
    stack.prepare()
    worker = make_worker(stack).start(services=SERVICES, timeout_s=START_TIMEOUT_S)
    current = [worker]
    every = [worker]
    replay = PacedReplay(stack, replay_messages(), lambda: current[0])
    total = len(replay.messages)
    intents = Intents(stack)
    kills: list[str] = []
    naked: list[str] = []
    try:
        for share in KILL_AT:
            replay.run(until=int(share * total))
            kills.append(kill_on_an_intent(replay, current[0], intents))
            current[0] = make_worker(stack).start(services=SERVICES, timeout_s=START_TIMEOUT_S)
            every.append(current[0])
            replay.step()  # the barrier: recovered and caught up with everything published so far
            naked += [f"after restart {len(kills)}: {p}" for p in check_protected(replay, current[0])]
        for n in replay:
            if n % 60 == 0:
                naked += [f"batch {n}: {p}" for p in check_protected(replay, current[0])]
    finally:
        intents.close()
    worker = current[0]
    settle(stack)
    worker.assert_alive()

    assert len(kills) == 3, kills
    crashed = [c for w in every for c in agent_crashes(w)]
    assert not crashed, crashed
    restored = [w.log_text().count("S4 desk") for w in every[1:]]
    assert all(restored), f"a restarted worker did not restore the router desk from its table: {restored}"
    assert not duplicate_client_order_ids(stack)
    sent = intents_sent(stack)
    assert not orders_per_intent(stack, sent)
    orders = orders_latest(stack)
    not_placed = [o for o in orders if o["status"] == "REJECTED" and o["reason"].startswith("NOT_PLACED")]
    events = position_events(stack)
    partition = replay.partition["mkt.perp"]
    desk = get_json(f"{worker.web}/router/desk/{partition}/")
    assert desk is not None
    problems, summary = books_against_fills(stack, sent, events, desk)
    assert not problems, problems
    assert not naked and not unprotected(desk), naked[:5]
    kinds = Counter(e.kind for e in events)
    assert kinds["OPEN"] >= 3, kinds
    print(
        f"\n{DAYS} days, {total} batches, killed at {kills}; {len(sent)} intents, {len(orders)} orders "
        f"({len(not_placed)} NOT_PLACED), {summary['fills']} fills, {kinds['OPEN']} opened / "
        f"{kinds['EXIT']} closed, wallet {summary['wallet']}"
    )
