"""The in-process demo on the shipped data (the BTC perpetual month + the XRP perpetual week with
its funding and marks), two ways:

1. engine: ``run_backtest`` in this process on real Redis (``--redis``, the test stack's by
   default) and chdb in this process (a temp store), the bundle and regime ``chimera demo`` picks
   for this data (agents/demo/defaults.py): load time, engine wall and CPU time, events/s, where
   the time went (per service, wall clock measured around each call), and the run's figures;
2. cli: ``chimera demo --json`` as a user runs it, on its own embedded stack (fresh data dir, free
   ports; it starts redis-server and the chdb owner and stops them): its total wall time and the
   summary it printed (``--no-cli`` skips it).

The machine's load average is printed beside the figures: on a shared 2-core box wall time
follows it; CPU time less so.

    .venv/bin/python bench/demo_inprocess.py [--redis redis://127.0.0.1:16379/0] [--no-cli]

Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agents.connectors.recordings import load_files
from agents.demo import defaults
from agents.demo.cli import SHIPPED
from agents.engine import EngineConfig, drop_keys, run_backtest
from agents.engine.ends import DataEnds
from agents.engine.engine import wallet_total
from sinks.clickhouse.chdb_backend import ChdbBackend
from sinks.clickhouse.migrate import migrate
from sinks.redis import make_client

REPO = Path(__file__).resolve().parents[1]
SPENT: dict[str, float] = defaultdict(float)


def _timed(owner: Any, name: str, label: str) -> None:
    """Wrap an async method so its wall time adds up under ``label`` (outer calls include inner)."""
    inner: Callable[..., Any] = getattr(owner, name)

    @functools.wraps(inner)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        t = time.perf_counter()
        try:
            return await inner(*args, **kwargs)
        finally:
            SPENT[label] += time.perf_counter() - t

    setattr(owner, name, wrapper)


def instrument() -> None:
    from agents.engine.engine import Engine
    from agents.positions.service import PositionService
    from agents.router.service import RouterService
    from agents.strategy import service as s3

    _timed(s3.Strategy, "decide", "S3 decide (incl. its Redis read)")
    _timed(s3, "read_ctx", "S3 Redis inputs")
    _timed(RouterService, "submit", "S4 submit")
    _timed(RouterService, "on_market", "S4 ticks")
    _timed(PositionService, "carry_out", "S6 shell (Redis)")
    _timed(Engine, "_batches", "batches: S6 ticks + S2 + S3 + orders")


def load_avg() -> float:
    return round(os.getloadavg()[0], 2)


async def engine_run(redis_url: str) -> dict[str, Any]:
    began = time.perf_counter()
    records = list(load_files([REPO / p for p in SHIPPED]))
    load_s = time.perf_counter() - began
    choice = defaults.choose(records, None, None)  # what `chimera demo` trades on this data
    bundle = choice.bundle
    store = Path(tempfile.mkdtemp(prefix="bench-demo-"))
    db = ChdbBackend(store, "bench_demo")
    migrate(db)
    redis = make_client(url=redis_url, client_name="bench-demo")
    cfg = EngineConfig(regime=choice.regime)
    ends = DataEnds(records, cfg.batch_window_ms)  # each perpetual closed at its data's end, as the demo
    instrument()
    cpu = time.process_time()
    result = await run_backtest(ends.trim(records), bundle, redis, db, cfg, ends=ends)
    cpu_s = time.process_time() - cpu
    await drop_keys(redis, cfg.key_prefix)
    await redis.aclose()
    exits = [e for e in result.position_events if e.kind == "EXIT"]
    db.close()
    return {
        "records": result.counts.records,
        "ticks": result.counts.ticks,
        "batches": result.counts.batches,
        "bundle": bundle.bundle_id,
        "regime": choice.regime or defaults.DAILY,
        "decisions": len(result.decisions),
        "load_s": round(load_s, 2),
        "engine_wall_s": round(result.wall_s, 2),
        "engine_cpu_s": round(cpu_s, 2),
        "events_per_s": round(result.events_per_s),
        "trades": len(exits),
        "wins": sum(1 for e in exits if e.realized_pnl > 0),
        "pnl_net_usdt": str(wallet_total(result) - result.initial_usdt),
        "fills": len(result.fills),
        "spent_s": {k: round(v, 2) for k, v in sorted(SPENT.items(), key=lambda kv: -kv[1])},
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cli_run() -> dict[str, Any]:
    data = Path(tempfile.mkdtemp(prefix="bench-demo-cli-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHIMERA_")}
    tansu, redis, chdb = free_port(), free_port(), free_port()
    env.update(
        CHIMERA_DATA_DIR=str(data),
        CHIMERA_TANSU_PORT=str(tansu),
        CHIMERA_REDIS_PORT=str(redis),
        CHIMERA_CHDB_HTTP_PORT=str(chdb),
        CHIMERA_KAFKA_BOOTSTRAP=f"127.0.0.1:{tansu}",
        CHIMERA_REDIS_URL=f"redis://127.0.0.1:{redis}/0",
    )
    chimera = str(Path(sys.executable).with_name("chimera"))
    began = time.perf_counter()
    p = subprocess.run([chimera, "demo", "--json", "--no-progress"], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - began
    if p.returncode != 0:
        raise SystemExit(f"chimera demo failed ({p.returncode}):\n{p.stderr[-3000:]}")
    s = json.loads(p.stdout.strip().splitlines()[-1])
    return {
        "cli_wall_s": round(wall, 2),
        "cli_engine_wall_s": round(s["wall_s"], 2),
        "cli_events_per_s": round(s["events_per_s"]),
        "cli_trades": s["trades"],
        "cli_win_rate": s["win_rate"],
        "cli_pnl_net_usdt": s["pnl_net"],
        "cli_max_drawdown_usdt": s["max_drawdown"],
        "cli_slippage_bps": s["slippage_bps"],
        "cli_orders_by_type": s["orders_by_type"],
        "cli_checks_ok": s["ok"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--redis", default="redis://127.0.0.1:16379/0")
    ap.add_argument("--no-cli", action="store_true")
    args = ap.parse_args()
    out: dict[str, Any] = {"bench": "demo_inprocess", "load_avg_start": load_avg()}
    eng = asyncio.run(engine_run(args.redis))
    out.update(eng)
    print(
        f"engine: {eng['records']:,} records ({eng['ticks']:,} ticks, {eng['batches']:,} batches, "
        f"{eng['decisions']:,} decisions) in {eng['engine_wall_s']} s wall / {eng['engine_cpu_s']} s CPU: "
        f"{eng['events_per_s']:,} events/s (loading {eng['load_s']} s)"
    )
    won, pnl = eng["wins"], eng["pnl_net_usdt"]
    print(f"        {eng['trades']} trades, {won} won, PnL {pnl} USDT, {eng['fills']} fills")
    for label, s in eng["spent_s"].items():
        print(f"        {label:<40} {s:>8.2f} s")
    if not args.no_cli:
        cli = cli_run()
        out.update(cli)
        print(
            f"cli:    `chimera demo` {cli['cli_wall_s']} s end to end (stack start/stop, migrate, load, run, "
            f"summary); engine {cli['cli_engine_wall_s']} s, {cli['cli_events_per_s']:,} events/s; "
            f"checks ok: {cli['cli_checks_ok']}"
        )
    out["load_avg_end"] = load_avg()
    print(f"load average {out['load_avg_start']} -> {out['load_avg_end']} (2 cores)")
    print(json.dumps(out, separators=(",", ":")))


if __name__ == "__main__":
    main()
