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

import pytest
from invariants import books_against_fills, duplicate_client_order_ids, orders_per_intent, unprotected
from pipeline_kit import DAYS, SYMBOL, Made, intents_sent, orders_latest, outcome
from runs import Run, replay_run

pytestmark = [pytest.mark.kafka, pytest.mark.redis, pytest.mark.clickhouse, pytest.mark.slow]


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


def test_every_intent_and_result_delivered_twice_ends_as_the_clean_run(clean: Run, made: Made) -> None:
    twice = replay_run(made, "twice", duplicate=True)
    assert twice.copies >= len(intents_sent(clean.stack)), twice.copies
    first, second = outcome(clean.stack), outcome(twice.stack)
    for key in ("orders", "fills", "snapshots"):
        a, b = first[key], second[key]
        diff = [(x, y) for x, y in zip(a, b, strict=False) if x != y]
        assert len(a) == len(b) and not diff, (key, len(a), len(b), diff[:3])
    assert [e.model_dump() for e in clean.events()] == [e.model_dump() for e in twice.events()]
    assert not duplicate_client_order_ids(twice.stack)
    print(f"\n{twice.copies} records delivered twice; {len(first['orders'])} orders as in the clean run")
