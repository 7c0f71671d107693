"""Entry gate throughput: reserve+release pairs per second, ``EntryGate`` vs raw EVALSHA of the same
scripts through redis-py, on a single node and on the Cluster, with N calls in flight.

    .venv/bin/python bench/gate_redis.py [--pairs 3000] [--concurrency 32] [--rounds 2]

Each run writes under its own key prefix and deletes it afterwards. API and raw rounds alternate so
that drift on a shared machine hits both alike; medians are printed, with the client's CPU per pair.
Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable

from chimera.model import LiveClock
from sinks.redis import EntryGate, Keyspace, RedisClient, make_client
from sinks.redis.gate import to_micro

SYMBOLS = [f"SYM{i}USDT" for i in range(8)]
TTL_MS = 3_600_000
TOMBSTONE_MS = 120_000  # the bench's records clean themselves up even if the run dies


async def _drive(pairs: int, concurrency: int, pair: Callable[[int], Awaitable[None]]) -> tuple[float, float]:
    """Run ``pairs`` reserve+release pairs with ``concurrency`` in flight.

    Return pairs/s and this process's CPU µs per pair: the wall rate swings with the load of a
    shared machine, the client's CPU cost per pair much less.
    """
    next_i = 0

    async def worker() -> None:
        nonlocal next_i
        while next_i < pairs:
            i = next_i
            next_i += 1
            await pair(i)

    t0, c0 = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return pairs / wall, cpu / pairs * 1e6


def _api_pair(gate: EntryGate, tag: str) -> Callable[[int], Awaitable[None]]:
    async def pair(i: int) -> None:
        rid = f"{tag}-{i}"
        d = await gate.reserve(rid, SYMBOLS[i % len(SYMBOLS)], "12.5", "1000000000", 1_000_000, TTL_MS)
        assert d.granted, d
        r = await gate.release(rid)
        assert r.released, r

    return pair


def _raw_pair(
    client: RedisClient, gate: EntryGate, ks: Keyspace, tag: str
) -> Callable[[int], Awaitable[None]]:
    reserve_sha, release_sha = gate._reserve.sha, gate._release.sha  # the very scripts the API runs
    budget, leases = ks.gate_budget_inuse(), ks.gate_leases()
    conc_prefix, resv_prefix = ks.gate_concurrency_prefix(), ks.gate_reservation_prefix()
    micro, limit = to_micro("m", "12.5"), to_micro("l", "1000000000")
    clock = LiveClock()

    async def pair(i: int) -> None:
        rid = f"{tag}-{i}"
        sym = SYMBOLS[i % len(SYMBOLS)]
        rkey = resv_prefix + rid
        res = await client.evalsha(
            reserve_sha, 4, budget, conc_prefix + sym, rkey, leases,
            rid, sym, micro, limit, 1_000_000, clock.now_ms(), TTL_MS,
            conc_prefix, resv_prefix, TOMBSTONE_MS, 64,
        )  # fmt: skip
        assert res[0] == "GRANTED", res
        rel = await client.evalsha(release_sha, 3, budget, rkey, leases, rid, conc_prefix, TOMBSTONE_MS)
        assert rel[0] == "RELEASED", rel

    return pair


async def _topology(name: str, client: RedisClient, pairs: int, concurrency: int, rounds: int) -> dict:
    ks = Keyspace(f"bench.{uuid.uuid4().hex[:8]}.")
    gate = EntryGate(client, ks, LiveClock(), tombstone_ms=TOMBSTONE_MS)
    await gate.load()
    api: list[tuple[float, float]] = []
    raw: list[tuple[float, float]] = []
    try:
        await _drive(200, concurrency, _api_pair(gate, "warm"))
        for r in range(rounds):
            api.append(await _drive(pairs, concurrency, _api_pair(gate, f"api{r}")))
            raw.append(await _drive(pairs, concurrency, _raw_pair(client, gate, ks, f"raw{r}")))
        usage = await gate.usage(SYMBOLS)
        assert usage.budget_inuse == 0 and not any(usage.concurrency.values()), usage
    finally:
        async for key in client.scan_iter(match=f"{ks.prefix}*", count=1000):
            await client.unlink(key)
        await client.aclose()
    api_med = statistics.median(x for x, _ in api)
    raw_med = statistics.median(x for x, _ in raw)
    api_cpu = statistics.median(c for _, c in api)
    raw_cpu = statistics.median(c for _, c in raw)
    print(
        f"{name:8s} median pairs/s: api {api_med:6.0f}, raw EVALSHA {raw_med:6.0f},"
        f" api/raw {api_med / raw_med:4.2f}"
        f" | client CPU µs/pair: api {api_cpu:5.0f}, raw {raw_cpu:5.0f}, api/raw {api_cpu / raw_cpu:4.2f}"
        f" | rounds api {[round(x) for x, _ in api]} raw {[round(x) for x, _ in raw]}"
    )
    return {
        "api_pairs_per_s": round(api_med),
        "raw_pairs_per_s": round(raw_med),
        "api_over_raw": round(api_med / raw_med, 3),
        "api_cpu_us_per_pair": round(api_cpu, 1),
        "raw_cpu_us_per_pair": round(raw_cpu, 1),
        "api_cpu_over_raw": round(api_cpu / raw_cpu, 3),
        "best_api_pairs_per_s": round(max(x for x, _ in api)),
        "best_raw_pairs_per_s": round(max(x for x, _ in raw)),
    }


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=3000)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--url", default=os.environ.get("CHIMERA_TEST_REDIS", "redis://127.0.0.1:16379/0"))
    ap.add_argument(
        "--cluster",
        default=os.environ.get(
            "CHIMERA_TEST_REDIS_CLUSTER", "127.0.0.1:17001,127.0.0.1:17002,127.0.0.1:17003"
        ),
    )
    a = ap.parse_args()
    print(f"reserve+release pairs, {a.pairs} per round, {a.concurrency} in flight, {a.rounds} rounds each")
    out = {"pairs": a.pairs, "concurrency": a.concurrency}
    out["single"] = await _topology("single", make_client(url=a.url), a.pairs, a.concurrency, a.rounds)
    out["cluster"] = await _topology(
        "cluster", make_client(cluster_nodes=a.cluster), a.pairs, a.concurrency, a.rounds
    )
    print(json.dumps(out))


if __name__ == "__main__":
    asyncio.run(main())
