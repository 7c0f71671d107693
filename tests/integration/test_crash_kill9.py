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
  right after each restart's recovery, every hour of event time and at the end;
- and, since each restarted worker catches up with everything published before the kill before
  the market moves on, the run ends with the clean run's orders, fills and position snapshots,
  exactly — unless a kill cut a send off before its journal reached the broker (a ``NOT_PLACED``
  order: the paper exchange never saw it, the rest legitimately differs).

A known hole, not ours: Faust 0.15.3 can drop the records it fetches while it seeks a restarted
worker's partitions to their committed offsets (S3 measured it too); the worker then idles until new
records come, and the dropped ones are read again only by the next restart (nothing past them was
acked). The paced replay notices such a stall (idle, nothing new finished for ``STALL_S``, the
record not done), restarts the worker cleanly and counts it; the count is printed.

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
from invariants import books_against_fills, duplicate_client_order_ids, orders_per_intent, unprotected
from pipeline_kit import (
    DAYS,
    SERVICES,
    STEP_TIMEOUT_S,
    PacedReplay,
    Stack,
    StackFactory,
    WorkerFactory,
    agent_crashes,
    get_json,
    intents_sent,
    orders_latest,
    outcome,
    position_events,
    replay_messages,
    settle,
)
from runs import Run

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
    make_stack: StackFactory, make_worker: WorkerFactory, clean: Run
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

    def restart() -> None:  # a stalled worker (see PacedReplay.barrier): stopped cleanly, started again
        current[0].stop()
        current[0] = make_worker(stack).start(services=SERVICES, timeout_s=START_TIMEOUT_S)
        every.append(current[0])

    replay.on_stall = restart
    naked: list[str] = []
    try:
        for share in KILL_AT:
            replay.run(until=int(share * total))
            kills.append(kill_on_an_intent(replay, current[0], intents))
            current[0] = make_worker(stack).start(services=SERVICES, timeout_s=START_TIMEOUT_S)
            every.append(current[0])
            assert replay.last is not None
            replay.barrier(*replay.last)  # recovered, and caught up with all published before the kill
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
    # each restart caught up before the market moved on, so the run is the clean one — unless a
    # kill cut a send off before the venue's journal was on the broker (that order never existed)
    mine, theirs = outcome(stack), outcome(clean.stack)
    same = mine == theirs
    diff = {k: [(a, b) for a, b in zip(mine[k], theirs[k], strict=False) if a != b][:3] for k in mine}
    assert same or not_placed, f"a crash changed the outcome with every send accounted for: {diff}"
    print(
        f"\n{DAYS} days, {total} batches, killed at {kills}; {len(sent)} intents, {len(orders)} orders "
        f"({len(not_placed)} NOT_PLACED), {summary['fills']} fills, {kinds['OPEN']} opened / "
        f"{kinds['EXIT']} closed, wallet {summary['wallet']}; {'identical to' if same else 'differs from'} "
        f"the clean run; Faust stalls after a restart (restarted again): {replay.stalls or 'none'}"
    )
