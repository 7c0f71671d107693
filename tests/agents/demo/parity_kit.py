"""Kit for issue 6's parity of ``chimera demo``'s two runners (the test and ``bench/demo_parity.py``):
the inputs, both runners on one input into a ClickHouse database each, and the row-for-row
comparison of every table of the trading record, every column, timestamps included."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from demo_kit import BTC_CSV, REPO

from agents.config.bundle import Bundle, parse_bundle
from agents.connectors.recordings import Record, load_file, load_files
from agents.demo import inprocess, kafka
from agents.demo.runner import RunContext, Runner, RunOutcome
from agents.demo.summary import Summary, read
from chimera.settings import Settings
from sinks.clickhouse.migrate import migrate
from sinks.clickhouse.server_backend import ServerBackend

XRP_FILES = sorted(REPO.glob("data/freqtrade/XRP_USDT_USDT-*.feather"))  # 5m candles, 8h rates, 8h marks
INITIAL = Decimal(10_000)

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
RUNNERS: dict[str, Runner] = {"inprocess": inprocess.run, "kafka": kafka.run}


def ms(iso: str) -> int:
    """UTC milliseconds of an ISO time (``2021-11-18T00:00``)."""
    return int(datetime.fromisoformat(iso).replace(tzinfo=UTC).timestamp() * 1000)


def parity_bundle(path: Path) -> Bundle:
    """A bundle, its model given time enough that a loaded machine never falls back on the Kafka
    path (the worker's model runner has a wall-clock timeout; the engine calls the model inline):
    a fallback in one run and not the other would be a difference of load."""
    doc = json.loads(path.read_text())
    doc["strategy"]["model"]["timeout_ms"] = 5_000
    return parse_bundle(doc)


def btc(start: str, end: str) -> list[Record]:
    a, b = ms(start), ms(end)
    return [r for r in load_file(BTC_CSV) if a <= r.ts < b]


def xrp(start: str, end: str) -> list[Record]:
    """The XRP perpetual's candles, marks and funding rates in [start, end)."""
    a, b = ms(start), ms(end)
    return [r for r in load_files(XRP_FILES) if a <= r.ts < b]


def settings_for(kafka_bootstrap: str, redis_url: str, clickhouse_url: str, data_dir: Path) -> Settings:
    return Settings(
        kafka_bootstrap=kafka_bootstrap,
        redis_url=redis_url,
        clickhouse_backend="server",
        clickhouse_url=clickhouse_url,
        topic_partitions=2,
        data_dir=data_dir,
    )


class Ran:
    def __init__(self, outcome: RunOutcome, db: ServerBackend, summary: Summary, took_s: float) -> None:
        self.outcome, self.db, self.summary, self.took_s = outcome, db, summary, took_s

    def rows(self, sql: str) -> list[dict[str, str]]:
        res = self.db.query(sql)
        return [{c: str(v) for c, v in zip(res.columns, row, strict=True)} for row in res.rows]


async def _call(runner: Runner, records: list[Record], bundle: Bundle, ctx: RunContext) -> RunOutcome:
    return await runner(records, bundle, ctx)


@contextmanager
def both_runs(
    settings: Settings, name: str, records: list[Record], bundle: Bundle
) -> Iterator[dict[str, Ran]]:
    """Each runner on ``records`` into a database ``<name>_<runner>`` of its own (dropped on exit);
    ``name``'s last 8 characters make the run ids."""
    made: list[ServerBackend] = []
    out: dict[str, Ran] = {}
    try:
        for runner_name, runner in RUNNERS.items():
            db = ServerBackend(settings.clickhouse_url, f"{name[:40]}_{runner_name}")
            made.append(db)
            migrate(db)
            run_id = f"{name[-8:]}{runner_name[:2]}"
            ctx = RunContext(settings, db.database, run_id, "NORMAL", INITIAL)
            began = time.perf_counter()
            outcome = asyncio.run(_call(runner, records, bundle, ctx))
            took = time.perf_counter() - began
            print(f"\n{runner_name}: {outcome.records} records in {took:.1f} s; {outcome.notes}")
            summary = Summary(
                run_id, db.database, bundle.bundle_id, bundle.rev, runner_name, [], outcome.records,
                outcome.ticks, outcome.wall_s, outcome.events_per_s, INITIAL,
            )  # fmt: skip
            out[runner_name] = Ran(outcome, db, read(db, outcome, summary), took)
        yield out
    finally:
        for db in made:
            db.execute(f"DROP DATABASE IF EXISTS {db.database}")
            db.close()


def diff(a: list[dict[str, str]], b: list[dict[str, str]]) -> list[tuple[Any, Any]]:
    """The first rows that differ, each with its counterpart (same position) for the columns apart."""
    out: list[tuple[Any, Any]] = []
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            out.append((i, {k: (v, y.get(k)) for k, v in x.items() if y.get(k) != v}))
        if len(out) == 3:
            break
    return out


Rows = dict[str, tuple[list[dict[str, str]], list[dict[str, str]]]]


def compare(runs: dict[str, Ran]) -> tuple[Rows, dict[str, tuple[int, int, list[tuple[Any, Any]]]]]:
    """Every table's rows on both runs, and the tables apart: (rows in-process, rows Kafka, first
    differences)."""
    engine, worker = runs["inprocess"], runs["kafka"]
    rows = {name: (engine.rows(sql), worker.rows(sql)) for name, sql in TABLES.items()}
    apart = {name: (len(a), len(b), diff(a, b)) for name, (a, b) in rows.items() if a != b}
    return rows, apart


def totals_apart(runs: dict[str, Ran]) -> dict[str, tuple[Any, Any]]:
    t_engine, t_worker = asdict(runs["inprocess"].outcome.totals), asdict(runs["kafka"].outcome.totals)
    return {k: (v, t_worker[k]) for k, v in t_engine.items() if t_worker[k] != v}


def failed_checks(runs: dict[str, Ran]) -> dict[str, list[Any]]:
    """Each run's summary checks of its record against its runner's own totals that failed."""
    return {n: [c for c in r.summary.checks if not c.ok] for n, r in runs.items() if not r.summary.ok}


def columns_apart(a: list[dict[str, str]], b: list[dict[str, str]]) -> set[str] | None:
    """The columns in which some row differs from its counterpart; None if the row counts differ."""
    if len(a) != len(b):
        return None
    return {k for x, y in zip(a, b, strict=True) for k, v in x.items() if y.get(k) != v}
