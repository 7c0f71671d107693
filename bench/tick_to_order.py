"""Tick-to-order latency on the real Kafka: a market batch produced → the order it caused accepted at
the paper venue (its first ``OrderResult`` on ``ord.results``), through one ``chimera worker``
running S2, S3, S4 and S6 (``features,strategy,router,positions``), Redis and clickhouse-server.

The input is a slice of the recorded BTC perpetual month, paced as the integration tests pace it
(each batch published once the worker has finished the previous one's consequences), so every
order is attributed to exactly the batch that caused it:

- **entry**: batch → S2 (bar closed, ``feat.events``) → S3 (decision, ``ord.intents``) → S4 (venue
  order, ``ord.results``): four hops;
- **management**: batch → S6 (management tick: trailing stop, time stop, add-on;
  ``ord.intents``) → S4: two hops;
- **protected**: batch → S2 → S3 → S4 (entry filled, ``ord.results``) → S6 (stop and take-profit,
  ``ord.intents``) → S4: the new position's stop accepted at the venue, six hops.

The time is the result record's CreateTime (set by the router's producer when the venue had
accepted and the desk image was flushed) minus the wall clock just before the batch was produced;
both clocks are this machine's. Figures depend on the machine's load: the barrier wait per batch
(everything the batch set off, including the sinks' and S6's work) is printed beside them.

    .venv/bin/python bench/tick_to_order.py [--days 1] [--kafka 127.0.0.1:19092]
        [--redis redis://127.0.0.1:16379/0] [--clickhouse clickhouse://default@127.0.0.1:19000]

Uses its own topic prefix, Redis key prefix and ClickHouse database, and removes them afterwards.
Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import bisect
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "integration"))

from pipeline_kit import SERVICES, Made, PacedReplay, read_all, replay_messages  # noqa: E402

from tests.agents.worker_kit import Reader  # noqa: E402
from topics.trading import IntentMessage, OrderIntent, OrderResult  # noqa: E402


def quantile(xs: list[float], q: float) -> float:
    """Nearest-rank quantile (no interpolation between two samples of a small set)."""
    if not xs:
        return float("nan")
    s = sorted(xs)
    return s[max(0, min(len(s) - 1, round(q * len(s) + 0.5) - 1))]


def records(made_stack: Any, name: str) -> list[tuple[bytes, int]]:
    r = Reader(made_stack.bootstrap, made_stack.topic(name))
    try:
        r.poll()
        while r.poll():
            pass
        return [(v, ts) for _, v, ts in r.records]
    finally:
        r.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--days", type=float, default=1.0)
    ap.add_argument("--kafka", default=os.environ.get("CHIMERA_TEST_KAFKA", "127.0.0.1:19092"))
    ap.add_argument("--redis", default="redis://127.0.0.1:16379/0")
    ap.add_argument("--clickhouse", default="clickhouse://default@127.0.0.1:19000")
    args = ap.parse_args()

    base = f"bench_t2o_{uuid.uuid4().hex[:8]}"
    made = Made(args.kafka, args.redis, args.clickhouse, base, Path(tempfile.mkdtemp(prefix=base)))
    try:
        stack = made.stack()
        stack.prepare()
        worker = made.worker(stack).start(services=SERVICES, timeout_s=120)
        messages = replay_messages(days=args.days)
        replay = PacedReplay(stack, messages, lambda: worker)
        produced_at: list[float] = []  # wall ms just before each batch was produced
        began = time.perf_counter()
        while replay.next < len(messages):
            produced_at.append(time.time() * 1000)
            replay.step()
        wall = time.perf_counter() - began

        intents: dict[str, OrderIntent] = {}
        for v in read_all(stack, "ord.intents"):
            msg = IntentMessage.model_validate_json(v).root
            if isinstance(msg, OrderIntent):
                intents.setdefault(msg.intent_id, msg)
        first_result: dict[str, int] = {}
        for v, ts in records(stack, "ord.results"):
            r = OrderResult.decode(v)
            first_result.setdefault(r.intent_id, ts)
        entry: list[float] = []
        manage: list[float] = []
        protect: list[float] = []
        for intent_id, ts in first_result.items():
            i = intents.get(intent_id)
            if i is None:
                continue
            k = bisect.bisect_right(produced_at, ts) - 1  # the batch whose step this result came in
            if k < 0:
                continue
            latency = ts - produced_at[k]
            if i.source == "strategy":
                entry.append(latency)
            elif i.source == "positions" and i.reason in ("SL_TRAIL", "TIME_STOP", "ADD_ON"):
                manage.append(latency)  # a tick's consequence
            elif i.source == "positions" and i.reason == "SL" and i.exec == "sl_tp":
                protect.append(latency)  # the first stop of a position the same batch opened
        worker.assert_alive()
    finally:
        made.close()

    per_batch_ms = wall / max(1, len(messages)) * 1000
    figures = {
        "bench": "tick_to_order",
        "days": args.days,
        "batches": len(messages),
        "entries": len(entry),
        "entry_p50_ms": round(quantile(entry, 0.50), 1),
        "entry_p99_ms": round(quantile(entry, 0.99), 1),
        "entry_mean_ms": round(statistics.fmean(entry), 1) if entry else None,
        "management_orders": len(manage),
        "management_p50_ms": round(quantile(manage, 0.50), 1),
        "management_p99_ms": round(quantile(manage, 0.99), 1),
        "protected": len(protect),
        "protected_p50_ms": round(quantile(protect, 0.50), 1),
        "protected_p99_ms": round(quantile(protect, 0.99), 1),
        "batch_step_ms": round(per_batch_ms, 1),
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }
    print(
        f"{len(messages)} batches ({args.days} days) in {wall:.1f} s, {per_batch_ms:.1f} ms per paced batch"
    )
    print(f"entry (batch -> S2 -> S3 -> S4 -> venue): n={len(entry)} p50 {figures['entry_p50_ms']} ms "
          f"p99 {figures['entry_p99_ms']} ms")  # fmt: skip
    print(f"management (batch -> S6 -> S4 -> venue): n={len(manage)} p50 {figures['management_p50_ms']} ms "
          f"p99 {figures['management_p99_ms']} ms")  # fmt: skip
    print(f"protected (batch -> S2 -> S3 -> S4 -> S6 -> S4 -> venue): n={len(protect)} "
          f"p50 {figures['protected_p50_ms']} ms p99 {figures['protected_p99_ms']} ms")  # fmt: skip
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
