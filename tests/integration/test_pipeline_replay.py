"""The trading path on the real stack (S2 → S3 → S4 → S6 in one worker, a paced replay of the BTC
perpetual month, ``CHIMERA_TEST_PIPELINE_DAYS`` days from 2022-01-10):

- a clean run: orders reach the paper venue, fills land in ClickHouse, positions open, rest on a
  reduce-only stop at the venue at every hour of event time, and close; S6's books, the venue's
  trades and wallet equal a recomputation from the ``fills`` rows;
- the same replay with every ``ord.intents`` and ``ord.results`` record delivered twice ends with
  the same orders, fills and position snapshots as the clean run.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

import pytest
from invariants import books_against_fills, duplicate_client_order_ids, orders_per_intent, unprotected
from pipeline_kit import (
    DAYS,
    SERVICES,
    SYMBOL,
    Duplicator,
    Made,
    PacedReplay,
    Stack,
    agent_crashes,
    get_json,
    intents_sent,
    orders_latest,
    outcome,
    position_events,
    replay_messages,
    settle,
)

from tests.agents.worker_kit import Worker
from topics.trading import PositionEvent

pytestmark = [pytest.mark.kafka, pytest.mark.redis, pytest.mark.clickhouse, pytest.mark.slow]
START_TIMEOUT_S = 120.0


@dataclass
class Run:
    stack: Stack
    worker: Worker
    replay: PacedReplay
    hourly_unprotected: list[str]
    copies: int = 0

    def desk(self) -> dict[str, Any]:
        partition = self.replay.partition["mkt.perp"]
        desk = get_json(f"{self.worker.web}/router/desk/{partition}/")
        assert desk is not None, self.worker.log_tail()
        return dict(desk)

    def events(self) -> list[PositionEvent]:
        return position_events(self.stack)


def replay_run(made: Made, name: str, duplicate: bool = False) -> Run:
    stack = made.stack(name)
    stack.prepare()
    worker = made.worker(stack).start(services=SERVICES, timeout_s=START_TIMEOUT_S)
    copier = Duplicator(stack.bootstrap, [stack.topic("ord.intents"), stack.topic("ord.results")])
    if duplicate:
        copier.start()
    run = Run(stack, worker, PacedReplay(stack, replay_messages(), lambda: worker), [])
    for n in run.replay:
        if n % 60 == 0:  # every hour of event time, the venue's truth
            run.hourly_unprotected += [f"batch {n}: {p}" for p in unprotected(run.desk())]
    if duplicate:
        copier.stop()
        run.copies = copier.copied
    settle(stack)
    worker.assert_alive()
    assert not agent_crashes(worker), agent_crashes(worker)
    return run


@pytest.fixture(scope="module")
def clean(module_made: Made) -> Run:
    return replay_run(module_made, "clean")


def test_a_replay_trades_through_kafka_and_every_open_position_rests_on_its_stop(clean: Run) -> None:
    stack = clean.stack
    assert not clean.hourly_unprotected, clean.hourly_unprotected[:5]
    desk = clean.desk()
    assert not unprotected(desk)
    events = clean.events()
    kinds = Counter(e.kind for e in events)
    assert kinds["OPEN"] >= 3 and kinds["EXIT"] >= 2, kinds
    orders = orders_latest(stack)
    assert {o["symbol"] for o in orders} == {SYMBOL}
    statuses = Counter((o["order_type"], o["status"]) for o in orders)
    assert statuses[("STOP_MARKET", "FILLED")] + statuses[("TAKE_PROFIT_MARKET", "FILLED")] >= 1, statuses
    assert not duplicate_client_order_ids(stack)
    intents = intents_sent(stack)
    assert not orders_per_intent(stack, intents)
    problems, summary = books_against_fills(stack, intents, events, desk)
    assert not problems, problems
    reasons = Counter(e.reason for e in events if e.kind == "EXIT")
    print(
        f"\n{DAYS} days: {len(clean.replay.messages)} batches, {len(intents)} intents, "
        f"{len(orders)} orders, {summary['fills']} fills, {kinds['OPEN']} positions opened, "
        f"{kinds['EXIT']} closed {dict(reasons)}, wallet {summary['wallet']}; "
        f"waited {clean.replay.waited_s:.1f} s at the barrier"
    )


def test_every_intent_and_result_delivered_twice_ends_as_the_clean_run(clean: Run, module_made: Made) -> None:
    twice = replay_run(module_made, "twice", duplicate=True)
    assert twice.copies >= len(intents_sent(clean.stack)), twice.copies
    first, second = outcome(clean.stack), outcome(twice.stack)
    for key in ("orders", "fills", "snapshots"):
        a, b = first[key], second[key]
        diff = [(x, y) for x, y in zip(a, b, strict=False) if x != y]
        assert len(a) == len(b) and not diff, (key, len(a), len(b), diff[:3])
    assert [e.model_dump() for e in clean.events()] == [e.model_dump() for e in twice.events()]
    assert not duplicate_client_order_ids(twice.stack)
    print(f"\n{twice.copies} records delivered twice; {len(first['orders'])} orders as in the clean run")
