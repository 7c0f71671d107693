"""Demo wall time and events/s, Kafka path vs in-process, on the same input: a slice of the BTC
perpetual month (``--days`` from 2022-01-10, 1-minute bars as 4 ticks each), the default bundle,
regime pinned NORMAL (a slice is shorter than the daily job's five days of history), both
through ``chimera demo``'s runners into a clickhouse-server database each (dropped afterwards):

- in-process: ``agents.demo.inprocess.run`` (the engine);
- kafka: ``agents.demo.kafka.run``: one ``chimera worker`` (S2, S3, S4, S6) on the broker
  (``--broker kafka``: the test stack's Apache Kafka; ``tansu``: an embedded Tansu started here),
  the records published paced (each message once the worker finished everything before it).

Wall time is each runner's own (``RunOutcome.wall_s``: the engine's run; the Kafka replay from the
first message until ClickHouse holds every row), the worker's start counted apart. The machine's
load average is printed beside the figures: on a shared 2-core box wall time follows it.

    .venv/bin/python bench/demo_kafka.py [--days 0.5] [--broker kafka|tansu]

Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import sys
import tempfile
import time
import uuid
from dataclasses import asdict
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agents.config.bundle import parse_bundle
from agents.connectors.recordings import Record, load_file
from agents.demo import inprocess, kafka
from agents.demo.cli import DEFAULT_BUNDLE
from agents.demo.runner import RunContext, RunOutcome
from chimera.settings import Settings
from sinks.clickhouse.migrate import migrate
from sinks.clickhouse.server_backend import ServerBackend

REPO = Path(__file__).resolve().parents[1]
BTC = REPO / "data/nautilus/btc-perp-20211231-20220201_1m.csv"
START = 1_641_772_800_000  # 2022-01-10 00:00 UTC
DAY_MS = 86_400_000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def load_avg() -> float:
    return round(os.getloadavg()[0], 2)


def slice_of(days: float) -> list[Record]:
    end = START + int(days * DAY_MS)
    return [r for r in load_file(BTC) if START <= r.ts < end]


async def in_process(records: list[Record], ctx: RunContext) -> tuple[RunOutcome, dict[str, Any]]:
    bundle = parse_bundle(DEFAULT_BUNDLE.read_text())
    return await inprocess.run(records, bundle, ctx), {}


async def through_kafka(records: list[Record], ctx: RunContext) -> tuple[RunOutcome, dict[str, Any]]:
    bundle = parse_bundle(DEFAULT_BUNDLE.read_text())
    outcome, r = await kafka.run_with_stats(records, bundle, ctx)
    batches = r.counts.batches + r.counts.funding
    return outcome, {
        "worker_start_s": round(r.started_s, 2),
        "messages": batches,
        "barrier_wait_s": round(r.waited_s, 2),
        "per_message_ms": round(1000 * outcome.wall_s / batches, 1) if batches else None,
    }


def one(name: str, records: list[Record], settings: Settings, clickhouse: str) -> dict[str, Any]:
    tag = uuid.uuid4().hex[:8]
    db = ServerBackend(clickhouse, f"bench_demo_{tag}_{name}")
    migrate(db)
    ctx = RunContext(settings, db.database, f"bench{tag}{name[:2]}", "NORMAL", Decimal(10_000))
    runner = through_kafka if name == "kafka" else in_process
    before = load_avg()
    began = time.perf_counter()
    try:
        outcome, extra = asyncio.run(runner(records, ctx))
    finally:
        db.execute(f"DROP DATABASE IF EXISTS {db.database}")
        db.close()
    t = outcome.totals
    return {
        "records": outcome.records,
        "ticks": outcome.ticks,
        "wall_s": round(outcome.wall_s, 2),
        "events_per_s": round(outcome.events_per_s, 1),
        "total_s": round(time.perf_counter() - began, 2),
        **extra,
        "decisions": sum(t.decisions.values()),
        "orders": t.orders,
        "fills": t.fills,
        "trades": t.trades,
        "pnl_net_usdt": str(t.realized),
        "load_before": before,
        "load_after": load_avg(),
        "totals": {k: str(v) if not isinstance(v, dict) else dict(v) for k, v in asdict(t).items()},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--days", type=float, default=0.5)
    ap.add_argument("--broker", choices=("kafka", "tansu"), default="kafka")
    ap.add_argument("--kafka", default="127.0.0.1:19092", help="Apache Kafka bootstrap (--broker kafka)")
    ap.add_argument("--redis", default="redis://127.0.0.1:16379/0")
    ap.add_argument("--clickhouse", default="clickhouse://default@127.0.0.1:19000/default")
    args = ap.parse_args()

    data = Path(tempfile.mkdtemp(prefix="bench-demo-kafka-"))
    tansu = None
    bootstrap = args.kafka
    if args.broker == "tansu":
        from chimera.stack import control, parts

        port = free_port()
        tansu = parts.tansu(Settings(data_dir=data, tansu_port=port))
        control.up([tansu], timeout_s=30)
        bootstrap = f"127.0.0.1:{port}"
    settings = Settings(
        kafka_bootstrap=bootstrap,
        redis_url=args.redis,
        clickhouse_backend="server",
        clickhouse_url=args.clickhouse,
        topic_partitions=2,
        data_dir=data,
    )
    records = slice_of(args.days)
    print(
        f"input: {len(records):,} records ({args.days} day of BTCUSDT perp from 2022-01-10)", file=sys.stderr
    )
    try:
        got = {name: one(name, records, settings, args.clickhouse) for name in ("in_process", "kafka")}
    finally:
        if tansu is not None:
            from chimera.stack import control

            control.down([tansu])
    a, k = got["in_process"], got["kafka"]
    same = {key: a["totals"][key] == k["totals"][key] for key in a["totals"]}
    for name, g in got.items():
        extra = (
            f"; worker start {g['worker_start_s']} s, {g['messages']:,} messages paced, "
            f"{g['per_message_ms']} ms each, {g['barrier_wait_s']} s at the barrier"
            if name == "kafka"
            else ""
        )
        print(
            f"{name:10s} {g['records']:,} records in {g['wall_s']} s: {g['events_per_s']:,} events/s "
            f"({g['decisions']} decisions, {g['orders']} orders, {g['fills']} fills, {g['trades']} trades, "
            f"PnL {g['pnl_net_usdt']}){extra}; load {g['load_before']} -> {g['load_after']}"
        )
    ratio = round(k["wall_s"] / a["wall_s"], 1) if a["wall_s"] else None
    print(f"kafka / in-process wall time: {ratio}x; totals equal: {same}")
    for g in got.values():
        g.pop("totals")
    print(json.dumps({"bench": "demo_kafka", "broker": args.broker, "days": args.days, **got,
                      "kafka_over_in_process": ratio, "totals_equal": same}))  # fmt: skip


if __name__ == "__main__":
    main()
