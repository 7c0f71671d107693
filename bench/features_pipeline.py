"""Ticks/s through S2 on ONE worker on the real broker, against a bare aiokafka consumer of the same
topic, a Faust agent that only decodes, and a naive one-tick-per-message Faust agent (DESIGN §1.7).

Input (``--input``): ``candles`` (default), the BTC 1-minute candle month (180,124 ticks, 4 per bar),
or ``trades``: the real Binance BTCUSDT trades + best bid/ask quotes shipped in ``data/nautilus``
(2021-01-08 00:00:00-00:00:46, 2,001 trades and 451 quotes, merged in time order by ``load_files``),
tiled ``--tiles`` times (default 1,800, ~4.4M ticks, ~1,390 replay batches; tile k shifted by
k * (span + 50 ms)). At 600 tiles the bare consumer read the topic in under a second and S2 in 1.5 s,
so one pause (a GC, a slow fetch) moved a round's ratio by a fifth. At 1,800 the bench process peaks
at ~2.9 GB RSS (the tiled ticks). The
recording is spot; the bench sets the market to FUT and publishes it on ``mkt.perp`` as a
perpetual's stream: ~2,600 ticks per 1-minute bar, a busy market's density. The batch window
defaults to 16 bars for the candles (64 ticks per message, at most 256) and, for the trades, to what
``chimera replay`` publishes: one bar (``settings.mkt_replay_window_ms``, 60,000 ms) of at most
``settings.mkt_replay_max_ticks`` (4,096) ticks, ~3,160 ticks per message.

1. The input is replayed (``replay_records`` + ``BulkProducer``: ``run_replay`` with the codec a
   choice, see :func:`replay`) into a fresh prefixed topic set, in MarketBatch micro-batches of
   ``--window-ms`` (at most ``--max-ticks`` ticks each).
2. **bare**: an aiokafka consumer in this process reads ``mkt.perp`` from the start and decodes every
   record (``MarketBatch.decode``): the floor any consumer of the topic pays. It runs again after
   S2 (4), and the two runs pooled are the round's bare rate: the machine drifts within a round.
3. **decode-only**: a throwaway Faust agent decodes every record and nothing else, sending one small
   output every 64 records (so that it is timed like the others): the floor any Faust agent pays on
   the topic (Faust's per-record overhead, a few hundred us).
4. **S2**: ``chimera worker --services features`` (a subprocess, its own app id and data dir) is
   started on the full topic and runs the real agent: decode, the core, the table write (changelog)
   and one ``feat.events`` send per closed bar. Its events are checked against the core run here.
5. **batched** (where S2's time goes): a throwaway Faust agent runs S2's core on the same topic but
   sends ONE message per input batch (its bars' events as a list), state in a dict, no table.
6. **naive**: a throwaway Faust agent consumes one tick per message (JSON) and updates bar features
   per tick in plain Python (OHLCV, ret_1, Wilder ATR, rv, EMAs; state in a dict, no table: the naive
   agent's best case), one output event per closed bar. It reads the first ``--naive-ticks`` ticks
   with a traded price (the trades input's quotes are left out), published one per message.

``--s2-only`` stops after 4. ``--sweep 256,1024,4096`` runs 1-4 (no batched / naive) once per
``--max-ticks`` value, each on a fresh topic set (deleted after it unless ``--keep-topics``), and
prints one table row per size (ticks/msg, bare, decode-only and S2 ticks/s and their ratios to bare,
events == core); the rows are the JSON's ``"sweep"``. ``--repeat K`` runs 2-4 K times (each later
round on the input replayed again into a fresh prefix) and reports the medians, the rounds under
``"rounds"``: a single round on a shared 2-core machine moves by a third.

Timing: the clock starts at the first output and stops at the last, and only the input consumed
between the two counts, so start-up, group join and first fetch are left out and what is measured
is the steady rate. Workers are timed by their outputs' CreateTime (ms; the input whose processing
sent each output is known from the core run here, or, for decode-only, from its record count: one
symbol is one partition, read in order), the bare consumer by its own clock from its first decoded
record. Every rate is wall-clock on a shared machine: compare within one run. With few batches
(large ``--max-ticks``) decode-only has few outputs to time: see ``decode_only_records_timed``.

CPU: beside each rate, the CPU its consumer spent per input batch over the same span: a worker's
whole process (every thread: Faust runs the consumer in a thread of its own), sampled from /proc by
``bench/cpu_clock.py``; the bare consumer's own thread (``time.thread_time``; aiokafka runs in it).
``s2_vs_bare_cpu_ratio`` is S2's ticks per CPU-second over bare's: the per-core cost, which a pause
of the worker does not move (a VM's steal still inflates both sides).

Usage: ``.venv/bin/python bench/features_pipeline.py [--bootstrap HOST:PORT] [--input candles|trades]
[--tiles N] [--window-ms MS] [--max-ticks N] [--sweep N,N,...] [--repeat K] [--s2-only]
[--naive-ticks N]``.
The last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agents.connectors.marketdata import MarketEvent, MicroBatcher  # noqa: E402
from agents.connectors.recordings import load_file, load_files  # noqa: E402
from agents.connectors.replay import (  # noqa: E402
    PRODUCER_CONFIG,
    BulkProducer,
    ReplayStats,
    replay_records,
    run_replay,
)
from agents.features.config import FeatureConfig  # noqa: E402
from agents.features.core import step  # noqa: E402
from agents.features.state import FeatureState  # noqa: E402
from agents.features.ticks import BAR_PRICE_KINDS, ticks_from_batch  # noqa: E402
from bench.cpu_clock import CpuClock  # noqa: E402
from chimera.model import Market  # noqa: E402
from chimera.settings import Settings  # noqa: E402
from topics.admin import broker_topics, delete_topics, ensure_topics  # noqa: E402
from topics.market import MARKET_TOPICS, MarketBatch  # noqa: E402

BTC_MONTH = ROOT / "data" / "nautilus" / "btc-perp-20211231-20220201_1m.csv"
TRADES = ROOT / "data" / "nautilus" / "btcusdt-trades.parquet"
QUOTES = ROOT / "data" / "nautilus" / "btcusdt-quotes.parquet"
TILE_GAP_MS = 50  # between one tile of the trades recording and the next
# trades: as `chimera replay` batches (settings.mkt_replay_window_ms, one bar, and mkt_replay_max_ticks)
SETTINGS = Settings()
WINDOW_MS = {"candles": 960_000, "trades": SETTINGS.mkt_replay_window_ms}
MAX_TICKS = {"candles": 256, "trades": SETTINGS.mkt_replay_max_ticks}
DECODE_EVERY = 64  # the decode-only agent sends one output per this many input records
CHIMERA = str(Path(sys.executable).with_name("chimera"))
SYMBOL = "BTCUSDT"
READY_LINE = b"[^Worker]: Ready"
INTERVAL_MS = 60_000  # the naive agent's bars (the core's default interval)


# ---------------------------------------------------------------------------------------------------
# the naive agent's per-tick features (the textbook loop of bench/features_core.py, one tick per call)


@dataclass
class NaiveFeatures:
    """Bar features updated one tick at a time; ``on_tick`` returns the event of a bar it closed."""

    cfg: FeatureConfig = field(default_factory=FeatureConfig)
    bar: dict[str, Any] | None = None
    prev_close: float = math.nan
    atr: float = math.nan
    ema_f: float = math.nan
    ema_s: float = math.nan
    n_bars: int = 0
    trs: list[float] = field(default_factory=list)
    rets: deque[float] = field(default_factory=deque)

    def on_tick(self, ts: int, price: float, qty: float) -> dict[str, Any] | None:
        cfg, out = self.cfg, None
        b = ts // cfg.interval_ms
        if self.bar is not None and b != self.bar["b"]:
            out = self._close(self.bar)
            self.bar = None
        if self.bar is None:
            self.bar = {"b": b, "o": price, "h": price, "l": price, "c": price, "v": qty}
        else:
            bar = self.bar
            bar["h"], bar["l"], bar["c"] = max(bar["h"], price), min(bar["l"], price), price
            bar["v"] += qty
        return out

    def _close(self, bar: dict[str, Any]) -> dict[str, Any]:
        cfg, c = self.cfg, bar["c"]
        if self.n_bars == 0:
            tr, ret = bar["h"] - bar["l"], math.nan
            self.ema_f = self.ema_s = c
        else:
            pc = self.prev_close
            tr = max(bar["h"] - bar["l"], abs(bar["h"] - pc), abs(bar["l"] - pc))
            ret = math.log(c / pc)
            self.rets.append(ret)
            if len(self.rets) > cfg.rv_window:
                self.rets.popleft()
            self.ema_f += 2 / (cfg.ema_fast + 1) * (c - self.ema_f)
            self.ema_s += 2 / (cfg.ema_slow + 1) * (c - self.ema_s)
        self.n_bars += 1
        if self.n_bars <= cfg.atr_n:
            self.trs.append(tr)
            if self.n_bars == cfg.atr_n:
                self.atr = sum(self.trs) / cfg.atr_n
        else:
            self.atr = (self.atr * (cfg.atr_n - 1) + tr) / cfg.atr_n
        rv = math.nan
        if len(self.rets) == cfg.rv_window:
            m = sum(self.rets) / len(self.rets)
            rv = math.sqrt(sum((r - m) ** 2 for r in self.rets) / (len(self.rets) - 1)) * cfg.annualisation
        self.prev_close = c
        t0 = (bar["b"] + 1) * cfg.interval_ms
        values = {"open": bar["o"], "high": bar["h"], "low": bar["l"], "close": c, "volume": bar["v"]}
        values |= {"ret_1": ret, "atr": self.atr, "rv": rv, "ema_fast": self.ema_f, "ema_slow": self.ema_s}
        return {
            "t0": t0,
            "symbol": SYMBOL,
            "features": {k: (v if v == v else None) for k, v in values.items()},
        }


def run_throwaway_worker(args: argparse.Namespace) -> None:
    """The throwaway Faust app, one agent of ``--mode``: ``naive`` (one JSON tick per message, per-tick
    Python features, one event per closed bar), ``batched`` (S2's core on MarketBatch messages like
    the S2 agent, but one output message per input batch carrying its bars' events, state in a dict)
    or ``decode-only`` (``MarketBatch.decode`` of every record and nothing else, one small output
    every ``DECODE_EVERY`` records so that it can be timed like the others)."""
    import faust

    app = faust.App(
        args.app_id,
        broker=f"kafka://{args.bootstrap}",
        store="memory://",
        consumer_max_fetch_size=SETTINGS.consumer_max_fetch_bytes,  # as the S2 worker fetches
        topic_allow_declare=False,  # the bench creates the topics (Kafka 4.x: confluent admin)
        topic_disable_leader=True,
        web_port=int(args.web_port),
        datadir=args.data_dir,
        broker_session_timeout=10.0,
        broker_heartbeat_interval=2.0,
    )
    raw: dict[str, Any] = {
        "key_type": bytes,
        "value_type": bytes,
        "key_serializer": "raw",
        "value_serializer": "raw",
    }
    source = app.topic(args.agent_in, **raw)
    out_topic = app.topic(args.agent_out, **raw)
    naive_states: dict[bytes, NaiveFeatures] = {}
    core_states: dict[bytes, FeatureState] = {}
    cfg = FeatureConfig()

    async def naive(stream: Any) -> None:
        async for event in stream.events():
            tick = json.loads(event.value)
            key = event.key or b""
            state = naive_states.get(key)
            if state is None:
                state = naive_states[key] = NaiveFeatures()
            out = state.on_tick(tick["ts"], tick["price"], tick["qty"])
            if out is not None:
                await out_topic.send(key=key, value=json.dumps(out).encode())

    async def batched(stream: Any) -> None:
        async for event in stream.events():
            batch = MarketBatch.decode(event.value)
            key = event.key or b""
            state = core_states.get(key) or FeatureState(symbol=batch.symbol)
            state, out = step(state, ticks_from_batch(batch, cfg.depth_levels), cfg)
            if out:  # acknowledged before the state is kept, as the S2 agent does
                await (await out_topic.send(key=key, value=json.dumps(out).encode()))
            core_states[key] = state

    seen = [0]

    async def decode_only(stream: Any) -> None:
        async for event in stream.events():
            MarketBatch.decode(event.value)
            seen[0] += 1
            if seen[0] % DECODE_EVERY == 0:
                await out_topic.send(key=b"decode", value=b"%d" % seen[0])

    agents = {"naive": naive, "batched": batched, "decode-only": decode_only}
    app.agent(source, name=f"bench.{args.mode}")(agents[args.mode])
    app.finalize()
    faust.Worker(app, loglevel="info").execute_from_commandline()


# ---------------------------------------------------------------------------------------------------
# broker helpers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def create_topics(bootstrap: str, names: list[str], partitions: int) -> None:
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    for name, fut in admin.create_topics([NewTopic(n, partitions, 1) for n in names]).items():
        try:
            fut.result()
        except Exception as exc:
            raise RuntimeError(f"cannot create {name}: {exc}") from exc
    deadline = time.monotonic() + 15
    while any(n not in broker_topics(bootstrap) for n in names):
        if time.monotonic() > deadline:
            raise RuntimeError(f"topics not visible: {names}")
        time.sleep(0.1)


def read_records(
    bootstrap: str, topic: str, count: int, timeout_s: float, proc: subprocess.Popen[bytes]
) -> list[tuple[bytes, int]]:
    """``count`` records of ``topic`` from the start: (value, CreateTime ms), partition by partition."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"bench-reader-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "fetch.wait.max.ms": 10,
        }
    )
    deadline = time.monotonic() + timeout_s
    while topic not in broker_topics(bootstrap):  # the worker provisions its output topics
        if time.monotonic() > deadline or proc.poll() is not None:
            raise RuntimeError(f"{topic} never appeared (worker exit code {proc.poll()})")
        time.sleep(0.1)
    meta = consumer.list_topics(topic, timeout=10).topics[topic]
    consumer.assign([TopicPartition(topic, p, 0) for p in meta.partitions])
    out: list[tuple[bytes, int]] = []
    try:
        while len(out) < count:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{topic}: {len(out)} of {count} records after {timeout_s} s")
            if proc.poll() is not None:
                raise RuntimeError(f"worker exited with {proc.returncode} after {len(out)} records")
            for msg in consumer.consume(10_000, timeout=0.2):
                if msg.error() is not None:
                    raise RuntimeError(str(msg.error()))
                out.append((msg.value() or b"", msg.timestamp()[1]))
    finally:
        consumer.close()
    return out


def start_worker(
    cmd: list[str], env: dict[str, str], log: Path, timeout_s: float = 90.0
) -> tuple[subprocess.Popen[bytes], float]:
    """Start a worker; return it and the wall time at which its log said Ready."""
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cmd, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT, cwd=log.parent
        )
    deadline = time.monotonic() + timeout_s
    while READY_LINE not in log.read_bytes():
        if proc.poll() is not None or time.monotonic() > deadline:
            stop(proc)
            tail = log.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"worker not ready (exit {proc.poll()}):\n{tail}")
        time.sleep(0.01)
    return proc, time.time()


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


@dataclass(frozen=True)
class Rate:
    """Input consumed between the first and the last output, over the time between them."""

    ticks: int
    messages: int
    seconds: float
    cpu_s: float  # CPU the consumer spent over those seconds (a worker: its process, every thread)

    @property
    def ticks_per_s(self) -> float:
        return self.ticks / self.seconds

    @property
    def ticks_per_cpu_s(self) -> float:
        return self.ticks / self.cpu_s

    @property
    def cpu_us_per_message(self) -> float:
        return self.cpu_s / self.messages * 1e6

    @property
    def messages_per_s(self) -> float:
        return self.messages / self.seconds

    def __add__(self, other: Rate) -> Rate:
        """Both spans as one: the rate over their total time (a time-weighted mean)."""
        return Rate(
            self.ticks + other.ticks,
            self.messages + other.messages,
            self.seconds + other.seconds,
            self.cpu_s + other.cpu_s,
        )


def steady_rate(outputs: Outputs, emitted_at: list[int], ticks_per_input: list[int]) -> Rate:
    """``emitted_at``: the input index whose processing sent each output (in order)."""
    lo, hi = emitted_at[0], emitted_at[-1]
    first_ms, last_ms = outputs.stamps[0], outputs.stamps[-1]
    seconds = max(last_ms - first_ms, 1) / 1000.0
    return Rate(sum(ticks_per_input[lo + 1 : hi + 1]), hi - lo, seconds, outputs.cpu_s)


@dataclass(frozen=True)
class Outputs:
    """A worker's outputs as read back, their CreateTimes (ms), and the worker's CPU between the
    first and the last (bench/cpu_clock.py)."""

    values: list[bytes]
    stamps: list[int]
    cpu_s: float


def read_outputs(
    args: argparse.Namespace, topic: str, expect: int, proc: subprocess.Popen[bytes], clock: CpuClock
) -> Outputs:
    got = read_records(args.bootstrap, topic, expect, args.timeout, proc)
    clock.stop()
    stamps = [ts for _, ts in got]
    cpu = clock.between(stamps[0] / 1000.0, stamps[-1] / 1000.0)
    return Outputs([value for value, _ in got], stamps, cpu)


# ---------------------------------------------------------------------------------------------------
# the consumers


# the bare consumer is the raw limit, so it gets every advantage: fetches of many large records at
# once (aiokafka's 1 MB per partition is ~4 trade batches of 240 KB, a round trip per 4)
BARE_FETCH = {"max_partition_fetch_bytes": 32 * 1024 * 1024, "fetch_max_bytes": 64 * 1024 * 1024}


async def bare_consume(bootstrap: str, topic: str, partitions: int, messages: int) -> tuple[Rate, float]:
    """Read and decode every record; the rate after the first one, and the whole read's seconds."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None, **BARE_FETCH
    )
    await consumer.start()
    try:
        parts = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        seen = ticks = 0
        begin = time.perf_counter()
        first = first_cpu = 0.0
        first_ticks = 0
        while seen < messages:
            for records in (await consumer.getmany(timeout_ms=1_000)).values():
                for rec in records:
                    n = len(MarketBatch.decode(rec.value or b""))
                    seen += 1
                    ticks += n
                    if seen == 1:
                        first, first_ticks, first_cpu = time.perf_counter(), ticks, time.thread_time()
        end, cpu = time.perf_counter(), time.thread_time() - first_cpu  # aiokafka runs in this thread
    finally:
        await consumer.stop()
    return Rate(ticks - first_ticks, seen - 1, end - first, cpu), end - begin


def run_s2(
    args: argparse.Namespace, prefix: str, tmp: Path, batches: list[MarketBatch]
) -> tuple[Rate, float, bool]:
    """The real worker on the replayed topic; its rate, Ready -> last event seconds, events == core."""
    cfg = FeatureConfig()  # the agent's (agents.features.agent.CONFIG)
    state = FeatureState(symbol=SYMBOL)
    expected: list[dict[str, Any]] = []
    emitted_at: list[int] = []
    for i, b in enumerate(batches):
        state, out = step(state, ticks_from_batch(MarketBatch.decode(b.encode()), cfg.depth_levels), cfg)
        expected += [dict(e) for e in out]
        emitted_at += [i] * len(out)
    env = {
        "CHIMERA_KAFKA_BOOTSTRAP": args.bootstrap,
        "CHIMERA_TOPIC_PREFIX": prefix,
        "CHIMERA_WORKER_ID": "s2",
        "CHIMERA_TOPIC_PARTITIONS": str(args.partitions),
        "CHIMERA_DATA_DIR": str(tmp / "s2"),
        "CHIMERA_WORKER_WEB_PORT": str(free_port()),
    }
    cmd = [CHIMERA, "worker", "--services", "features", "--loglevel", "info"]
    proc, ready = start_worker(cmd, env, tmp / "s2.log")
    try:
        got = read_outputs(args, prefix + "feat.events", len(expected), proc, CpuClock(proc.pid))
    finally:
        stop(proc)
    fill = [
        line
        for line in (tmp / "s2.log").read_text(errors="replace").splitlines()
        if "features windows:" in line
    ]
    print(fill[-1].split("]: ")[-1] if fill else "no window fill logged")
    events = []
    for value in got.values:
        ev = json.loads(value)
        ev.pop("v")
        events.append(ev)
    rate = steady_rate(got, emitted_at, [len(b) for b in batches])
    return rate, got.stamps[-1] / 1000.0 - ready, events == expected


def run_throwaway(args: argparse.Namespace, mode: str, source: str, out: str, tmp: Path) -> Outputs:
    """Run the throwaway app's ``mode`` agent on ``source``; its outputs."""
    cmd = [
        sys.executable, __file__, "--throwaway-worker", "--mode", mode, "--bootstrap", args.bootstrap,
        "--agent-in", source, "--agent-out", out, "--app-id", f"{out}.app", "--data-dir", str(tmp / mode),
        "--web-port", str(free_port()),
    ]  # fmt: skip
    proc, _ = start_worker(cmd, {}, tmp / f"{mode}.log")
    try:
        return read_outputs(args, out, args.expect, proc, CpuClock(proc.pid))
    finally:
        stop(proc)


def run_naive(args: argparse.Namespace, prefix: str, tmp: Path, ticks: list[MarketEvent]) -> Rate:
    """The naive agent on ``ticks``, published one per message."""
    tin, tout = prefix + "naive.ticks", prefix + "naive.features"
    create_topics(args.bootstrap, [tin, tout], args.partitions)
    producer = BulkProducer(args.bootstrap, {**PRODUCER_CONFIG, "compression.type": args.compression})
    local, emitted_at = NaiveFeatures(), list[int]()
    for i, t in enumerate(ticks):
        assert t.price is not None and t.qty is not None
        price, qty = float(t.price), float(t.qty)
        producer.send(tin, SYMBOL, json.dumps({"ts": t.ts, "price": price, "qty": qty}).encode())
        if local.on_tick(t.ts, price, qty) is not None:
            emitted_at.append(i)
    producer.flush()
    outputs = run_throwaway(
        argparse.Namespace(**{**vars(args), "expect": len(emitted_at)}), "naive", tin, tout, tmp
    )
    return steady_rate(outputs, emitted_at, [1] * len(ticks))


def run_batched(args: argparse.Namespace, prefix: str, tmp: Path, batches: list[MarketBatch]) -> Rate:
    """S2's core in a Faust agent with one output message per input batch, on the replayed topic."""
    cfg, state, emitted_at = FeatureConfig(), FeatureState(symbol=SYMBOL), list[int]()
    for i, b in enumerate(batches):
        state, out = step(state, ticks_from_batch(b, cfg.depth_levels), cfg)
        if out:
            emitted_at.append(i)
    tout = prefix + "batched.features"
    create_topics(args.bootstrap, [tout], args.partitions)
    expect = argparse.Namespace(**{**vars(args), "expect": len(emitted_at)})
    outputs = run_throwaway(expect, "batched", prefix + "mkt.perp", tout, tmp)
    return steady_rate(outputs, emitted_at, [len(b) for b in batches])


def run_decode_only(args: argparse.Namespace, prefix: str, tmp: Path, batches: list[MarketBatch]) -> Rate:
    """A Faust agent that only decodes each record of the replayed topic: what any agent pays on it.

    Its k-th output follows the (k * DECODE_EVERY)-th record it read; one symbol means one partition,
    read in order, so that record is ``batches[k * DECODE_EVERY - 1]``."""
    emitted_at = [k * DECODE_EVERY - 1 for k in range(1, len(batches) // DECODE_EVERY + 1)]
    if len(emitted_at) < 2:
        raise RuntimeError(f"{len(batches)} batches: too few for the decode-only agent's timing")
    tout = prefix + "decode.out"
    create_topics(args.bootstrap, [tout], args.partitions)
    expect = argparse.Namespace(**{**vars(args), "expect": len(emitted_at)})
    outputs = run_throwaway(expect, "decode-only", prefix + "mkt.perp", tout, tmp)
    return steady_rate(outputs, emitted_at, [len(b) for b in batches])


def load_input(args: argparse.Namespace) -> tuple[list[MarketEvent], str]:
    """The ticks of ``--input`` and a line describing them."""
    if args.input == "candles":
        ticks = [r for r in load_file(BTC_MONTH) if isinstance(r, MarketEvent)]
        return ticks, "BTC month"
    recording = [r for r in load_files([TRADES, QUOTES]) if isinstance(r, MarketEvent)]
    period = recording[-1].ts - recording[0].ts + TILE_GAP_MS
    ticks = [
        replace(r, ts=r.ts + k * period, market=Market.FUT) for k in range(args.tiles) for r in recording
    ]
    n_trades = sum(r.kind == "t" for r in recording)
    return ticks, (
        f"BTCUSDT trades + quotes ({n_trades:,} + {len(recording) - n_trades:,} per tile) "
        f"x {args.tiles} tiles as perp"
    )


def batch(ticks: Sequence[MarketEvent], window_ms: int, max_ticks: int) -> list[MarketBatch]:
    """The batches the replay publishes (decoded back, as a consumer sees them)."""
    batches: list[MarketBatch] = []
    replay_records(
        ticks, lambda _t, _k, v: batches.append(MarketBatch.decode(v)), MicroBatcher(window_ms, max_ticks), ""
    )
    return batches


def replay(
    args: argparse.Namespace, prefix: str, ticks: Sequence[MarketEvent], max_ticks: int
) -> ReplayStats:
    """``run_replay`` of the month, with the producer's compression a choice: its lz4 default cannot be
    read by an aiokafka consumer (Faust's) unless the ``lz4`` package is installed, and it is not in
    this venv (aiokafka raises UnsupportedCodecError on the first fetch). The tiled trades are no file:
    ``replay_records`` of them, as ``run_replay`` does of a file's records."""
    batcher = MicroBatcher(args.window_ms, max_ticks)
    if args.compression == "lz4" and args.input == "candles":
        return run_replay([BTC_MONTH], args.bootstrap, prefix, batcher, args.partitions, progress=False)
    ensure_topics(args.bootstrap, prefix, args.partitions, 1, names=MARKET_TOPICS)
    producer = BulkProducer(args.bootstrap, {**PRODUCER_CONFIG, "compression.type": args.compression})
    started = time.monotonic()
    stats = replay_records(ticks, producer.send, batcher, prefix)
    producer.flush()
    stats.seconds = time.monotonic() - started
    return stats


def core_in_process(batches: list[MarketBatch]) -> float:
    """Ticks/s of what the agent does per batch without Kafka: decode, core, state to JSON."""
    cfg, wire = FeatureConfig(), [b.encode() for b in batches]
    state = FeatureState(symbol=SYMBOL)
    start = time.perf_counter()
    for value in wire:
        state, _ = step(state, ticks_from_batch(MarketBatch.decode(value), cfg.depth_levels), cfg)
        json.dumps(state.to_dict())
    return sum(len(b) for b in batches) / (time.perf_counter() - start)


def floor_and_s2(
    args: argparse.Namespace,
    prefix: str,
    tmp: Path,
    batches: list[MarketBatch],
    verbose: bool,
    ticks: Sequence[MarketEvent],
    max_ticks: int,
) -> dict[str, Any]:
    """bare, decode-only and S2 on the replayed topic (in that order), ``--repeat`` rounds; their
    figures. Round 1 reads ``prefix``; each later one replays ``ticks`` again into a fresh prefix (a
    worker's group and changelog, and the outputs read from offset 0, are per prefix). The figures are
    the rounds' medians: one round on this shared 2-core machine can be off by a third."""
    rounds = [_round(args, prefix, tmp / "r0", batches, verbose)]
    for k in range(1, args.repeat):
        again = f"bench.{uuid.uuid4().hex[:8]}."
        try:
            replay(args, again, ticks, max_ticks)
            rounds.append(_round(args, again, tmp / f"r{k}", batches, verbose))
        finally:
            drop_topics(args, again)
    keys = [key for key in rounds[0] if key != "s2_events_equal_core"]
    got: dict[str, Any] = {key: statistics.median(r[key] for r in rounds) for key in keys}
    got = {key: round(v) if key.endswith("_per_s") else round(v, 3) for key, v in got.items()}
    got["s2_events_equal_core"] = all(r["s2_events_equal_core"] for r in rounds)
    if args.repeat > 1:
        got["rounds"] = rounds
        if verbose:
            ratios = ", ".join(f"{r['s2_vs_bare_ratio']:.3f}" for r in rounds)
            print(f"median of {args.repeat} rounds: S2 / bare {got['s2_vs_bare_ratio']:.3f} ({ratios})")
    return got


def _round(
    args: argparse.Namespace, prefix: str, tmp: Path, batches: list[MarketBatch], verbose: bool
) -> dict[str, Any]:
    tmp.mkdir(parents=True, exist_ok=True)
    n_batches = len(batches)

    def run_bare(when: str) -> Rate:
        rate, total = asyncio.run(
            bare_consume(args.bootstrap, prefix + "mkt.perp", args.partitions, n_batches)
        )
        if verbose:
            print(
                f"bare aiokafka + decode ({when}): {rate.ticks_per_s:>10,.0f} ticks/s "
                f"{rate.messages_per_s:>9,.0f} msg/s "
                f"({total:.2f} s for the topic; CPU {rate.cpu_us_per_message:,.0f} us/msg)"
            )
        return rate

    before = run_bare("before")
    dec = run_decode_only(args, prefix, tmp, batches)
    if verbose:
        print(
            f"Faust decode-only agent: {dec.ticks_per_s:,.0f} ticks/s (ratio to bare before "
            f"{dec.ticks_per_s / before.ticks_per_s:.3f}; {1e6 / dec.messages_per_s:.0f} us/msg; "
            f"CPU {dec.cpu_us_per_message:,.0f} us/msg)"
        )
    s2, ready_to_last, same = run_s2(args, prefix, tmp, batches)
    after = run_bare("after")
    # the raw limit brackets the workers: this machine's speed drifts within a round (bare moved
    # 0.74-1.17x between its two runs, minutes apart), so one bare run before would favour either side
    bare = before + after
    dec_ratio = dec.ticks_per_s / bare.ticks_per_s
    ratio = s2.ticks_per_s / bare.ticks_per_s
    cpu_ratio = s2.ticks_per_cpu_s / bare.ticks_per_cpu_s
    if verbose:
        print(
            f"S2 worker (features):  {s2.ticks_per_s:>10,.0f} ticks/s "
            f"{s2.messages_per_s:>9,.0f} batches/s "
            f"({s2.seconds:.2f} s; Ready -> last event {ready_to_last:.2f} s); events == core: {same}"
        )
        print(
            f"bare before and after, pooled: {bare.ticks_per_s:,.0f} ticks/s "
            f"(after / before {after.ticks_per_s / before.ticks_per_s:.3f}); "
            f"decode-only / bare {dec_ratio:.3f}"
        )
        print(
            f"S2 / bare: {ratio:.3f} (goal >= 0.5); S2 / decode-only: {s2.ticks_per_s / dec.ticks_per_s:.3f}"
        )
        print(
            f"CPU per batch: bare {bare.cpu_us_per_message:,.0f} us, S2 worker "
            f"{s2.cpu_us_per_message:,.0f} us (all threads); ticks per CPU-second, S2 / bare: {cpu_ratio:.3f}"
        )
    return {
        "bare_ticks_per_s": round(bare.ticks_per_s),
        "bare_before_ticks_per_s": round(before.ticks_per_s),
        "bare_after_ticks_per_s": round(after.ticks_per_s),
        "bare_messages_per_s": round(bare.messages_per_s),
        "decode_only_ticks_per_s": round(dec.ticks_per_s),
        "decode_only_vs_bare_ratio": round(dec_ratio, 3),
        "decode_only_records_timed": dec.messages,  # few when batches are few: a rough figure
        "bare_cpu_us_per_batch": round(bare.cpu_us_per_message, 1),
        "decode_only_cpu_us_per_batch": round(dec.cpu_us_per_message, 1),
        "s2_cpu_us_per_batch": round(s2.cpu_us_per_message, 1),
        "s2_vs_bare_cpu_ratio": round(cpu_ratio, 3),
        "s2_ticks_per_s": round(s2.ticks_per_s),
        "s2_batches_per_s": round(s2.messages_per_s),
        "s2_us_per_batch": round(1e6 / s2.messages_per_s, 1),
        "s2_seconds": round(s2.seconds, 3),
        "s2_ready_to_last_event_s": round(ready_to_last, 3),
        "s2_events_equal_core": same,
        "s2_vs_bare_ratio": round(ratio, 3),
    }


def drop_topics(args: argparse.Namespace, prefix: str) -> None:
    if not args.keep_topics:
        delete_topics(
            args.bootstrap, sorted(t for t in broker_topics(args.bootstrap) if t.startswith(prefix))
        )


def sweep(args: argparse.Namespace, ticks: list[MarketEvent], sizes: list[int]) -> list[dict[str, Any]]:
    """bare, decode-only and S2 for each ``max_ticks`` in ``sizes``, each on a fresh topic set."""
    head = (
        f"{'ticks/msg':>9} {'batches':>8} {'bare ticks/s':>13} {'decode-only':>12} {'/bare':>6} "
        f"{'S2 ticks/s':>11} {'/bare':>6}  events==core"
    )
    print(head)
    rows = []
    for size in sizes:
        batches = batch(ticks, args.window_ms, size)
        prefix = f"bench.{uuid.uuid4().hex[:8]}."
        try:
            stats = replay(args, prefix, ticks, size)
            assert (stats.ticks, stats.batches) == (len(ticks), len(batches)), stats.summary()
            with tempfile.TemporaryDirectory(prefix="bench-s2-") as tmpdir:
                got = floor_and_s2(args, prefix, Path(tmpdir), batches, False, ticks, size)
        finally:
            drop_topics(args, prefix)
        row = {
            "max_ticks": size,
            "batches": len(batches),
            "ticks_per_message": round(len(ticks) / len(batches), 1),
            **got,
        }
        rows.append(row)
        print(
            f"{row['ticks_per_message']:>9,.1f} {len(batches):>8,} {got['bare_ticks_per_s']:>13,} "
            f"{got['decode_only_ticks_per_s']:>12,} {got['decode_only_vs_bare_ratio']:>6.3f} "
            f"{got['s2_ticks_per_s']:>11,} {got['s2_vs_bare_ratio']:>6.3f}  {got['s2_events_equal_core']}",
            flush=True,
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bootstrap", default=os.environ.get("CHIMERA_TEST_KAFKA", "127.0.0.1:19092"))
    parser.add_argument(
        "--input",
        choices=("candles", "trades"),
        default="candles",
        help="the BTC 1-minute candle month, or the BTCUSDT trades + quotes recording tiled --tiles times",
    )
    parser.add_argument(
        "--tiles", type=int, default=1800, help="copies of the trades recording (--input trades)"
    )
    parser.add_argument(
        "--window-ms",
        type=int,
        default=None,
        help="batch window (default: candles 960000 = 16 bars = 64 ticks; trades 60000 = 1 bar)",
    )
    parser.add_argument(
        "--max-ticks",
        type=int,
        default=None,
        help="a batch closes at this many ticks (default: candles 256, trades chimera replay's 4096)",
    )
    parser.add_argument(
        "--sweep",
        default=None,
        metavar="N,N,...",
        help="bare, decode-only and S2 for each of these --max-ticks (no batched / naive runs)",
    )
    parser.add_argument("--naive-ticks", type=int, default=40_000, help="input of the naive agent")
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument(
        "--compression",
        choices=("none", "gzip", "lz4"),
        default="none",
        help="replay producer's codec (lz4 is run_replay's, unreadable by aiokafka without the lz4 package)",
    )
    parser.add_argument("--timeout", type=float, default=600.0, help="per worker, seconds")
    parser.add_argument(
        "--repeat", type=int, default=1, help="rounds of bare, decode-only and S2; figures are medians"
    )
    parser.add_argument("--keep-topics", action="store_true")
    parser.add_argument(
        "--s2-only", action="store_true", help="bare, decode-only and S2 only (no batched / naive runs)"
    )
    # the throwaway workers' own process
    parser.add_argument("--throwaway-worker", action="store_true", help=argparse.SUPPRESS)
    for name in ("--mode", "--agent-in", "--agent-out", "--app-id", "--data-dir", "--web-port"):
        parser.add_argument(name, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.throwaway_worker:
        sys.argv = [sys.argv[0], "worker"]  # Faust's command line reads argv
        run_throwaway_worker(args)
        return
    if args.window_ms is None:
        args.window_ms = WINDOW_MS[args.input]
    if args.max_ticks is None:
        args.max_ticks = MAX_TICKS[args.input]

    ticks, label = load_input(args)
    n_ticks = len(ticks)
    figures: dict[str, Any] = {"input": args.input, "ticks": n_ticks}
    if args.input == "trades":
        figures["tiles"] = args.tiles
    figures |= {"window_ms": args.window_ms, "compression": args.compression}
    if args.sweep:
        sizes = [int(x) for x in args.sweep.split(",")]
        print(f"{label}: {n_ticks:,} ticks (window {args.window_ms} ms, max ticks {sizes})")
        figures["sweep"] = sweep(args, ticks, sizes)
        print(json.dumps(figures))
        return

    batches = batch(ticks, args.window_ms, args.max_ticks)
    n_batches = len(batches)
    print(
        f"{label}: {n_ticks:,} ticks in {n_batches:,} batches (window {args.window_ms} ms, "
        f"max {args.max_ticks} ticks: {n_ticks / n_batches:.1f} ticks per message)"
    )
    prefix = f"bench.{uuid.uuid4().hex[:8]}."
    figures |= {
        "batches": n_batches,
        "max_ticks": args.max_ticks,
        "ticks_per_message": round(n_ticks / n_batches, 1),
    }
    try:
        stats = replay(args, prefix, ticks, args.max_ticks)
        assert (stats.ticks, stats.batches) == (n_ticks, n_batches), stats.summary()
        print(f"replayed into {prefix}mkt.perp: {stats.summary()}")
        with tempfile.TemporaryDirectory(prefix="bench-s2-") as tmpdir:
            tmp = Path(tmpdir)
            figures |= floor_and_s2(args, prefix, tmp, batches, True, ticks, args.max_ticks)
            if args.s2_only:
                print(json.dumps(figures))
                return
            s2_ticks_per_s = figures["s2_ticks_per_s"]
            core = core_in_process(batches)
            print(f"S2's work in process, no Kafka (decode + core + state JSON): {core:>10,.0f} ticks/s")
            batched = run_batched(args, prefix, tmp, batches)
            print(
                f"S2's core in a Faust agent, 1 output message per batch: "
                f"{batched.ticks_per_s:>10,.0f} ticks/s {batched.messages_per_s:>7,.0f} batches/s"
            )
            # the naive agent's ticks carry a traded price (the trades input's quotes are left out)
            priced = [t for t in ticks if t.kind in BAR_PRICE_KINDS and t.price is not None]
            naive_input = priced[: args.naive_ticks]
            naive = run_naive(args, prefix, tmp, naive_input)
            print(
                f"naive Faust agent, 1 tick/message ({len(naive_input):,} ticks): "
                f"{naive.ticks_per_s:>10,.0f} ticks/s ({naive.seconds:.2f} s)"
            )
            print(f"S2 / naive: {s2_ticks_per_s / naive.ticks_per_s:.1f}x")
            figures.update(
                core_in_process_ticks_per_s=round(core),
                batched_outputs_ticks_per_s=round(batched.ticks_per_s),
                batched_outputs_batches_per_s=round(batched.messages_per_s),
                naive_ticks=len(naive_input),
                naive_ticks_per_s=round(naive.ticks_per_s),
                s2_vs_naive=round(s2_ticks_per_s / naive.ticks_per_s, 1),
            )
    finally:
        drop_topics(args, prefix)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
