"""S4 router throughput and intent→venue-ack latency.

1. core: the pure core alone (intent -> place -> venue answer -> result), no I/O.
2. shell: ``RouterService.submit`` on SimVenue with real Redis (intent record, order record,
   inputs read: three round trips per intent), market intents on BTCUSDT perpetual at the first
   real bar's price; p50/p99 of intent→ack as the service measures it (``router_p95``' summary).
3. kafka: real Apache Kafka ``ord.intents`` -> router -> ``ord.results`` with confluent-kafka
   (one partition, the router's consumer loop in this process): one intent at a time for the
   round-trip latency, then a flood for throughput.

    .venv/bin/python bench/router_intents.py [--intents 2000] [--kafka 127.0.0.1:19092] [--no-kafka]

Each run uses its own Redis key prefix and topic names and removes them afterwards. Last line:
one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import statistics
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agents.connectors.marketdata import MarketEvent
from agents.connectors.recordings import load_file
from agents.connectors.simvenue import SimVenue, SimVenueConfig
from agents.connectors.simvenue.feed import apply
from agents.router.core import RouterState, step
from agents.router.messages import Ctx, IntentIn, OrderUpdate, Place, Tick
from agents.router.service import RouterService
from chimera.model import Symbol
from sinks.redis import Keyspace, make_client
from topics.codec import decode, encode
from topics.trading import OrderIntent, OrderResult

BARS = Path(__file__).resolve().parents[1] / "data/nautilus/btc-perp-20211231-20220201_1m.csv"
FUT_BTC = {
    "symbol": "BTCUSDT",
    "market": "FUT",
    "base": "BTC",
    "tick_size": "0.1",
    "lot_size": "0.001",
    "min_qty": "0.001",
    "min_notional": "5",
}


def venue() -> SimVenue:
    return SimVenue(SimVenueConfig(instruments=[FUT_BTC], initial_balances={"FUT": {"USDT": "10000000"}}))


def first_tick() -> MarketEvent:
    ev = next(iter(load_file(BARS)))
    assert isinstance(ev, MarketEvent)
    return ev


def intents(run: str, n: int, ts: int) -> list[OrderIntent]:
    # alternate sides so the position stays flat and margin never runs out
    return [
        OrderIntent.model_validate(
            {
                "intent_id": f"int-{run}-{i}",
                "symbol": "BTCUSDT",
                "market": "FUT",
                "qty": "0.001",
                "side": "BUY" if i % 2 == 0 else "SELL",
                "exec": "market",
                "ts": ts + i,
                "source": "strategy",
            }
        )
        for i in range(n)
    ]


def q(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(p * len(ordered)) - 1))]


def bench_core(n: int) -> dict[str, Any]:
    sim = venue()
    tick = first_tick()
    apply(sim.exchange, tick)
    ctx = Ctx({(i.market, i.symbol): i for i in sim.exchange.instruments.values()})
    state, _ = step(RouterState(), Tick(tick.market, Symbol(tick.symbol), tick.ts, price=tick.price), ctx)
    batch = intents("core", n, tick.ts)
    venue_s = 0.0
    start = time.perf_counter()
    for it in batch:
        state, effects = step(state, IntentIn(it), ctx)
        for e in effects:
            if isinstance(e, Place):
                t = time.perf_counter()
                answer = sim.exchange.submit(e.req)
                venue_s += time.perf_counter() - t
                state, _ = step(state, OrderUpdate(answer), ctx)
    wall = time.perf_counter() - start
    core_s = wall - venue_s
    print(
        f"core: {n / core_s:,.0f} intents/s in the core alone ({core_s / n * 1e6:.1f} µs per intent, "
        f"venue excluded: SimVenue took {venue_s / n * 1e6:.1f} µs per order)"
    )
    return {"core_intents_per_s": round(n / core_s), "core_us_per_intent": round(core_s / n * 1e6, 1)}


async def bench_shell(redis_url: str, n: int) -> dict[str, Any]:
    client = make_client(url=redis_url, client_name="bench-router")
    ks = Keyspace(f"bench.router.{uuid.uuid4().hex[:8]}.")
    sim = venue()
    router = RouterService(sim, client, ks, sim)
    await router.start()
    tick = first_tick()
    apply(sim.exchange, tick)
    await router.on_market(tick)
    batch = intents(uuid.uuid4().hex[:6], n, tick.ts)
    for it in batch[:50]:  # warm up connections and scripts
        await router.submit(it)
    router.metrics.ack_ms.samples.clear()
    start = time.perf_counter()
    for it in batch[50:]:
        await router.submit(it)
    wall = time.perf_counter() - start
    acks = list(router.metrics.ack_ms.samples)
    done = n - 50
    created = sum(1 for _ in sim.exchange.orders)
    async for key in client.scan_iter(match=f"{ks.prefix}*", count=1000):
        await client.unlink(key)
    await client.aclose()
    assert created == n, f"{created} orders at the venue for {n} intents"
    p50, p99 = q(acks, 0.5), q(acks, 0.99)
    print(
        f"shell (SimVenue + Redis {redis_url}): {done / wall:,.0f} intents/s; "
        f"intent→ack p50 {p50:.3f} ms, p95 {q(acks, 0.95):.3f} ms, p99 {p99:.3f} ms"
    )
    return {
        "shell_intents_per_s": round(done / wall),
        "shell_ack_p50_ms": round(p50, 3),
        "shell_ack_p95_ms": round(q(acks, 0.95), 3),
        "shell_ack_p99_ms": round(p99, 3),
    }


async def bench_kafka(bootstrap: str, redis_url: str, n_pingpong: int, n_flood: int) -> dict[str, Any]:
    from confluent_kafka import Consumer, Producer
    from confluent_kafka.admin import AdminClient, NewTopic

    run = uuid.uuid4().hex[:8]
    t_in, t_out = f"bench.{run}.ord.intents", f"bench.{run}.ord.results"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for f in admin.create_topics([NewTopic(t, 1, 1) for t in (t_in, t_out)]).values():
        f.result(15)
    client = make_client(url=redis_url, client_name="bench-router-kafka")
    ks = Keyspace(f"bench.router.{run}.")
    sim = venue()
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0, "acks": "1"})

    async def publish(r: OrderResult) -> None:
        producer.produce(t_out, encode(r, "ord.results"), key=r.symbol.encode())
        producer.poll(0)

    router = RouterService(sim, client, ks, sim, publish=publish)
    await router.start()
    tick = first_tick()
    apply(sim.exchange, tick)
    await router.on_market(tick)

    def consumer(topic: str, group: str) -> Any:
        c = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": group,
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
                "fetch.wait.max.ms": 5,
                "session.timeout.ms": 6000,
            }
        )
        c.subscribe([topic])
        return c

    sent_at: dict[str, float] = {}
    got_at: dict[str, float] = {}
    stop = threading.Event()

    def watch_results() -> None:
        c = consumer(t_out, f"bench-res-{run}")
        while not stop.is_set():
            # poll returns at the first message; consume(n, timeout) would wait for n or the timeout
            first = c.poll(0.05)
            for m in ([first] if first is not None else []) + c.consume(500, 0):
                if m.error() is None:
                    r = decode(t_out, m.value())
                    got_at.setdefault(r.intent_id, time.perf_counter())  # type: ignore[attr-defined]
        c.close()

    watcher = threading.Thread(target=watch_results, daemon=True)
    watcher.start()
    intake = consumer(t_in, f"bench-router-{run}")
    in_producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0, "acks": "1"})

    async def route_until(count: int, deadline_s: float) -> None:
        handled = 0
        end = time.perf_counter() + deadline_s
        while handled < count and time.perf_counter() < end:
            msgs = intake.consume(500, 0)  # what is already fetched, without waiting
            if not msgs:
                first = await asyncio.to_thread(intake.poll, 0.01)
                msgs = [first] if first is not None else []
            for m in msgs:
                if m.error() is not None:
                    continue
                await router.submit(decode(t_in, m.value()))  # type: ignore[arg-type]
                handled += 1
            producer.flush()

    def send(it: OrderIntent) -> None:
        sent_at[it.intent_id] = time.perf_counter()
        in_producer.produce(t_in, encode(it, "ord.intents"), key=b"BTCUSDT")
        in_producer.flush()

    # let both consumers join their groups before timing anything
    warm = intents(f"{run}w", 5, tick.ts)
    for it in warm:
        send(it)
    await route_until(len(warm), 60)
    while len(got_at) < len(warm):
        await asyncio.sleep(0.01)

    ping = intents(f"{run}p", n_pingpong, tick.ts + 10)
    rtts = []
    for it in ping:
        send(it)
        await route_until(1, 10)
        while it.intent_id not in got_at:
            await asyncio.sleep(0.0002)
        rtts.append((got_at[it.intent_id] - sent_at[it.intent_id]) * 1000)

    flood = intents(f"{run}f", n_flood, tick.ts + 10_000)
    start = time.perf_counter()
    for it in flood:
        sent_at[it.intent_id] = time.perf_counter()
        in_producer.produce(t_in, encode(it, "ord.intents"), key=b"BTCUSDT")
        in_producer.poll(0)
    in_producer.flush()
    await route_until(n_flood, 120)
    while sum(1 for it in flood if it.intent_id in got_at) < n_flood and time.perf_counter() - start < 120:
        await asyncio.sleep(0.005)
    wall = time.perf_counter() - start
    stop.set()
    watcher.join(5)
    intake.close()
    async for key in client.scan_iter(match=f"{ks.prefix}*", count=1000):
        await client.unlink(key)
    await client.aclose()
    for f in admin.delete_topics([t_in, t_out]).values():
        f.result(15)
    flood_lat = [(got_at[i.intent_id] - sent_at[i.intent_id]) * 1000 for i in flood if i.intent_id in got_at]
    assert len(flood_lat) == n_flood, f"{len(flood_lat)} of {n_flood} results came back"
    print(
        f"kafka ({bootstrap}) ord.intents -> router -> ord.results, one at a time: round trip p50 "
        f"{q(rtts, 0.5):.2f} ms, p99 {q(rtts, 0.99):.2f} ms (mean {statistics.fmean(rtts):.2f})"
    )
    print(f"kafka flood of {n_flood}: {n_flood / wall:,.0f} intents/s end to end")
    return {
        "kafka_rtt_p50_ms": round(q(rtts, 0.5), 2),
        "kafka_rtt_p99_ms": round(q(rtts, 0.99), 2),
        "kafka_flood_intents_per_s": round(n_flood / wall),
    }


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--intents", type=int, default=2_000)
    ap.add_argument("--redis", default="redis://127.0.0.1:16379/0")
    ap.add_argument("--kafka", default="127.0.0.1:19092")
    ap.add_argument("--no-kafka", action="store_true")
    ap.add_argument("--pingpong", type=int, default=300)
    args = ap.parse_args()
    figures: dict[str, Any] = {"intents": args.intents}
    figures.update(bench_core(args.intents))
    figures.update(await bench_shell(args.redis, args.intents))
    if not args.no_kafka:
        figures.update(await bench_kafka(args.kafka, args.redis, args.pingpong, args.intents))
    print(json.dumps(figures))


if __name__ == "__main__":
    asyncio.run(main())
