"""Issue 6's must-show: the Kafka-path and in-process demo runs agree on every decision, order and
fill. One input — half a day of the BTC perpetual month from 2022-01-10 (~2,200 S1 batches, ~25
positions) — through both runners of ``chimera demo`` (``agents.demo.inprocess`` and
``agents.demo.kafka``: one ``chimera worker`` with S2, S3, S4, S6 on real Apache Kafka, paced),
each into a ClickHouse database of its own; then every row of the trading record, every column,
timestamps included, plainly equal:

- decisions: ``signals`` (ids, times, features, decision, reason, side, regime, model, size);
- orders: every state change of every order (``orders``, each version), venue ids included;
- fills: every fill (``fills``: price, qty, fee, book at send, slippage, time);
- positions: every ``positions_snapshots`` row; ``funding_records``; ``strategy_events``;
- the two runners' own totals (what each counted, not ClickHouse), and the summary's checks of
  each record against its runner's totals pass.

Two differences the paths once had are gone by construction: S1 stamps each batch with the time it
closed it (``MarketBatch`` v2 ``closed_ts``), where the engine's batch timer and S4's paper desk
both put their venue before the batch goes on; and S6 decides nothing for a position on a tick that
reached one of its own resting exits (``agents.positions.manage``), so whether S4's fills of a batch
reach S6 before the batch (in-process) or after it (Kafka) changes nothing.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from dataclasses import asdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from demo_kit import BTC_CSV

from agents.config.bundle import Bundle, parse_bundle
from agents.connectors.recordings import Record, load_file
from agents.demo import inprocess, kafka
from agents.demo.runner import RunContext, Runner, RunOutcome
from agents.demo.summary import Summary, read
from chimera.settings import Settings
from sinks.clickhouse.migrate import migrate
from sinks.clickhouse.server_backend import ServerBackend

pytestmark = [pytest.mark.kafka, pytest.mark.redis, pytest.mark.clickhouse, pytest.mark.slow]

DAY_MS = 86_400_000
START = 1_641_772_800_000  # 2022-01-10 00:00 UTC
DAYS = 0.5
DEFAULT_BUNDLE = Path(__file__).resolve().parents[3] / "agents/config/default_bundle.json"

# every row of the trading record, every column, in a total order (clickhouse-server 18.16)
TABLES = {
    "decisions": "SELECT * FROM signals FINAL ORDER BY signal_id",
    "orders": "SELECT * FROM orders FINAL ORDER BY client_order_id, version",
    "fills": "SELECT * FROM fills FINAL ORDER BY trade_id",
    "positions": "SELECT * FROM positions_snapshots FINAL ORDER BY pos_id, seq",
    "funding": "SELECT * FROM funding_records FINAL ORDER BY symbol, funding_time",
    "strategy events": "SELECT * FROM strategy_events FINAL ORDER BY event_id",
}
CLOSED = "SELECT pos_id FROM positions_snapshots FINAL WHERE status = 'CLOSED' GROUP BY pos_id"


def parity_bundle() -> Bundle:
    """The demo's default bundle, its model given time enough that a loaded machine never falls
    back on the Kafka path (the worker's model runner has a wall-clock timeout; the engine calls
    the model inline): a fallback in one run and not the other would be a difference of load."""
    doc = json.loads(DEFAULT_BUNDLE.read_text())
    doc["strategy"]["model"]["timeout_ms"] = 5_000
    return parse_bundle(doc)


def btc_half_day() -> list[Record]:
    end = START + int(DAYS * DAY_MS)
    return [r for r in load_file(BTC_CSV) if START <= r.ts < end]


async def call(runner: Runner, records: list[Record], bundle: Bundle, ctx: RunContext) -> RunOutcome:
    return await runner(records, bundle, ctx)


class Ran:
    def __init__(self, outcome: RunOutcome, db: ServerBackend, summary: Summary) -> None:
        self.outcome, self.db, self.summary = outcome, db, summary

    def rows(self, sql: str) -> list[dict[str, Any]]:
        res = self.db.query(sql)
        return [{c: str(v) for c, v in zip(res.columns, row, strict=True)} for row in res.rows]


@pytest.fixture
def runs(
    kafka_bootstrap: str, redis_url: str, clickhouse_url: str, unique_name: str, tmp_path: Path
) -> Iterator[dict[str, Ran]]:
    settings = Settings(
        kafka_bootstrap=kafka_bootstrap,
        redis_url=redis_url,
        clickhouse_backend="server",
        clickhouse_url=clickhouse_url,
        topic_partitions=2,
        data_dir=tmp_path,
    )
    records, bundle = btc_half_day(), parity_bundle()
    made: list[ServerBackend] = []
    out: dict[str, Ran] = {}
    runners: dict[str, Runner] = {"inprocess": inprocess.run, "kafka": kafka.run}
    try:
        for name, runner in runners.items():
            database = f"{unique_name[:40]}_{name}"
            db = ServerBackend(clickhouse_url, database)
            made.append(db)
            migrate(db)
            run_id = f"{unique_name[-8:]}{name[:2]}"
            ctx = RunContext(settings, database, run_id, "NORMAL", Decimal(10_000))
            began = time.perf_counter()
            outcome = asyncio.run(call(runner, records, bundle, ctx))
            took = time.perf_counter() - began
            print(f"\n{name}: {outcome.records} records in {took:.1f} s; {outcome.notes}")
            summary = Summary(
                run_id, database, bundle.bundle_id, bundle.rev, name, [], outcome.records,
                outcome.ticks, outcome.wall_s, outcome.events_per_s, Decimal(10_000),
            )  # fmt: skip
            out[name] = Ran(outcome, db, read(db, outcome, summary))
        yield out
    finally:
        for db in made:
            db.execute(f"DROP DATABASE IF EXISTS {db.database}")
            db.close()


def diff(a: list[dict[str, str]], b: list[dict[str, str]]) -> list[tuple[Any, Any]]:
    """The first rows that differ, each with its counterpart (same position) for the columns apart."""
    out = []
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            out.append((i, {k: (v, y.get(k)) for k, v in x.items() if y.get(k) != v}))
        if len(out) == 3:
            break
    return out


def test_kafka_path_and_in_process_agree_on_every_decision_order_and_fill(runs: dict[str, Ran]) -> None:
    engine, worker = runs["inprocess"], runs["kafka"]
    for ran in (engine, worker):  # each record is what its runner counted
        bad = [c for c in ran.summary.checks if not c.ok]
        assert not bad, (ran.summary.engine, bad)
    rows = {name: (engine.rows(sql), worker.rows(sql)) for name, sql in TABLES.items()}
    apart = {name: (len(a), len(b), diff(a, b)) for name, (a, b) in rows.items() if a != b}
    assert not apart, apart
    t_engine, t_worker = asdict(engine.outcome.totals), asdict(worker.outcome.totals)
    assert t_engine == t_worker, {k: (v, t_worker[k]) for k, v in t_engine.items() if t_worker[k] != v}

    # the comparison is about something: entries, stops and take-profits that filled, closes
    s = engine.summary
    assert s.trades >= 10 and s.fills >= 2 * s.trades, (s.trades, s.fills)
    types = s.orders_by_type
    assert types.get("MARKET", 0) >= s.trades and types.get("STOP_MARKET", 0) >= s.trades, types
    assert len(engine.rows(CLOSED)) == s.trades, s.trades
    print(
        "\nagree: "
        + ", ".join(f"{len(a)} {name} rows" for name, (a, _) in rows.items())
        + f"; orders {types}, {s.fills} fills, {s.trades} trades, PnL {s.pnl_net}; "
        f"in-process {engine.outcome.wall_s:.1f} s, kafka {worker.outcome.wall_s:.1f} s"
    )
