"""Replay publish rate vs the raw confluent-kafka produce rate of the same messages.

1. stages without a broker: load (file -> ticks), batch + encode (ticks -> wire messages);
2. full replay: file -> broker acks (``run_replay``), ticks/s and messages/s;
3. raw produce: the same pre-encoded messages, same producer settings, produce + flush only;
4. raw produce with compression off, for the lz4 choice.

Usage: ``.venv/bin/python bench/replay_publish.py [--bootstrap HOST:PORT] [--window-ms MS] [--max-ticks N]``.
The last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agents.connectors.marketdata import MarketEvent, MicroBatcher  # noqa: E402
from agents.connectors.recordings import load_file  # noqa: E402
from agents.connectors.replay import PRODUCER_CONFIG, BulkProducer, ensure_topics, replay_records, run_replay  # noqa: E402
from topics.market import MarketBatch  # noqa: E402

BTC_MONTH = ROOT / "data" / "nautilus" / "btc-perp-20211231-20220201_1m.csv"


def raw_produce(
    bootstrap: str, topic: str, messages: list[tuple[str, bytes]], config: dict[str, str | int]
) -> float:
    producer = BulkProducer(bootstrap, config)
    started = time.monotonic()
    for key, value in messages:
        producer.send(topic, key, value)
    producer.flush()
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bootstrap", default=os.environ.get("CHIMERA_TEST_KAFKA", "127.0.0.1:19092"))
    parser.add_argument("--window-ms", type=int, default=60_000)
    parser.add_argument("--max-ticks", type=int, default=256)
    args = parser.parse_args()
    run = uuid.uuid4().hex[:8]

    started = time.monotonic()
    records = list(load_file(BTC_MONTH))
    load_s = time.monotonic() - started
    ticks = sum(isinstance(r, MarketEvent) for r in records)

    messages: list[tuple[str, bytes]] = []
    started = time.monotonic()
    replay_records(
        records, lambda t, k, v: messages.append((k, v)), MicroBatcher(args.window_ms, args.max_ticks), ""
    )
    batch_s = time.monotonic() - started
    wire_bytes = sum(len(v) for _, v in messages)
    started = time.monotonic()
    decoded = [MarketBatch.decode(v) for _, v in messages]
    decode_s = time.monotonic() - started
    assert sum(len(b) for b in decoded) == ticks

    prefix = f"bench.{run}."
    stats = run_replay(
        [BTC_MONTH], args.bootstrap, prefix, MicroBatcher(args.window_ms, args.max_ticks), 4, progress=False
    )
    assert stats.ticks == ticks, (stats.ticks, ticks)

    raw_topics = [f"bench.{run}.raw.lz4", f"bench.{run}.raw.none"]
    ensure_topics(args.bootstrap, raw_topics, 4, 1)
    raw_s = raw_produce(args.bootstrap, raw_topics[0], messages, PRODUCER_CONFIG)
    none_s = raw_produce(
        args.bootstrap, raw_topics[1], messages, {**PRODUCER_CONFIG, "compression.type": "none"}
    )

    n = len(messages)
    figures = {
        "ticks": ticks,
        "messages": n,
        "ticks_per_message": round(ticks / n, 2),
        "wire_bytes_per_message": round(wire_bytes / n),
        "load_ticks_per_s": round(ticks / load_s),
        "batch_encode_ticks_per_s": round(ticks / batch_s),
        "decode_validate_ticks_per_s": round(ticks / decode_s),
        "decode_validate_us_per_message": round(decode_s / n * 1e6, 1),
        "replay_seconds": round(stats.seconds, 3),
        "replay_ticks_per_s": round(ticks / stats.seconds),
        "replay_messages_per_s": round(n / stats.seconds),
        "raw_lz4_messages_per_s": round(n / raw_s),
        "raw_lz4_ticks_per_s": round(ticks / raw_s),
        "raw_none_messages_per_s": round(n / none_s),
        "replay_vs_raw_ratio": round(raw_s / stats.seconds, 3),
    }
    print(
        f"BTC month: {ticks} ticks -> {n} messages ({figures['ticks_per_message']} ticks, "
        f"{figures['wire_bytes_per_message']} bytes each); "
        f"window {args.window_ms} ms, max {args.max_ticks} ticks"
    )
    print(f"load            {load_s:7.2f} s  {figures['load_ticks_per_s']:>10,} ticks/s")
    print(f"batch + encode  {batch_s:7.2f} s  {figures['batch_encode_ticks_per_s']:>10,} ticks/s")
    print(f"decode+validate {decode_s:7.2f} s  {figures['decode_validate_ticks_per_s']:>10,} ticks/s")
    print(
        f"replay (acked)  {stats.seconds:7.2f} s  {figures['replay_ticks_per_s']:>10,} ticks/s  "
        f"{figures['replay_messages_per_s']:>8,} msg/s"
    )
    print(
        f"raw produce lz4 {raw_s:7.2f} s  {figures['raw_lz4_ticks_per_s']:>10,} ticks/s  "
        f"{figures['raw_lz4_messages_per_s']:>8,} msg/s"
    )
    print(
        f"raw produce none{none_s:7.2f} s  {'':>10}          {figures['raw_none_messages_per_s']:>8,} msg/s"
    )
    print(f"replay / raw rate ratio: {figures['replay_vs_raw_ratio']}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
