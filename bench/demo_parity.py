"""Kafka path vs in-process, row for row, on a longer input than the test's (issue 6): both runners
of ``chimera demo`` on one input, each into a clickhouse-server database of its own (dropped
afterwards), every table of the trading record compared as ``tests/agents/demo`` does (its
``parity_kit``: every row, every column), and the figures: rows per table, equal or the first
differences (and the columns apart), each runner's wall time and events/s, funding settlements,
trades per symbol.

Input (default): the whole shipped XRP perpetual week with its 8-hourly funding rates and marks
(``data/freqtrade/XRP_USDT_USDT-*.feather``), the demo's BTC+XRP bundle on 5-minute bars, regime
pinned NORMAL; ``--xrp FROM TO`` a slice of it, ``--btc-hours N`` N hours of the BTC month from
2022-01-10 after it (the default demo's two symbols). The Kafka path is one ``chimera worker``
(S2, S3, S4, S6) on the test stack's Apache Kafka, paced: expect minutes on the whole week.

    .venv/bin/python bench/demo_parity.py [--xrp 2021-11-15T00:00 2021-11-22T00:00] [--btc-hours 0]

Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests" / "agents" / "demo")]

import parity_kit as kit  # noqa: E402  (the test's kit: one comparison for the test and the bench)
from demo_kit import BTC_CSV  # noqa: E402

from agents.connectors.recordings import Record, load_file, load_files  # noqa: E402
from agents.demo.defaults import BTC_XRP_BUNDLE  # noqa: E402

BTC_START = "2022-01-10T00:00"


def records(xrp: tuple[str, str] | None, btc_hours: float) -> list[Record]:
    out = kit.xrp(*xrp) if xrp else list(load_files(kit.XRP_FILES))
    if btc_hours:
        start = kit.ms(BTC_START)
        out += [r for r in load_file(BTC_CSV) if start <= r.ts < start + int(btc_hours * 3_600_000)]
    return out


def figures(runs: dict[str, kit.Ran]) -> dict[str, Any]:
    rows, apart = kit.compare(runs)
    out: dict[str, Any] = {
        "rows": {name: len(a) for name, (a, _) in rows.items()},
        "equal": not apart,
        "apart": {
            name: {
                "rows": [n_a, n_b],
                "columns": sorted(kit.columns_apart(*rows[name]) or []),
                "first": first,
            }
            for name, (n_a, n_b, first) in apart.items()
        },
        "totals_apart": {k: [str(a), str(b)] for k, (a, b) in kit.totals_apart(runs).items()},
        "checks_failed": {n: [str(c) for c in cs] for n, cs in kit.failed_checks(runs).items()},
    }
    for name, ran in runs.items():
        s, o = ran.summary, ran.outcome
        out[name] = {
            "records": o.records,
            "wall_s": round(o.wall_s, 2),
            "total_s": round(ran.took_s, 2),
            "events_per_s": round(o.events_per_s, 1),
            "trades": s.trades,
            "pnl_net_usdt": str(s.pnl_net),
            "funding_settlements": s.funding_settlements,
            "funding_usdt": str(s.funding),
            "by_symbol": {
                sym: {"trades": r["trades"], "funding_settlements": r["funding_settlements"]}
                for sym, r in s.by_symbol.items()
            },
            "notes": o.notes,
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--xrp", nargs=2, metavar=("FROM", "TO"), help="a slice of the XRP week (UTC, ISO)")
    ap.add_argument("--btc-hours", type=float, default=0.0, help="hours of BTC from 2022-01-10 after it")
    ap.add_argument("--kafka", default="127.0.0.1:19092")
    ap.add_argument("--redis", default="redis://127.0.0.1:16379/0")
    ap.add_argument("--clickhouse", default="clickhouse://default@127.0.0.1:19000/default")
    args = ap.parse_args()
    data = Path(tempfile.mkdtemp(prefix="bench-demo-parity-"))
    settings = kit.settings_for(args.kafka, args.redis, args.clickhouse, data)
    recs = records(tuple(args.xrp) if args.xrp else None, args.btc_hours)
    print(f"input: {len(recs):,} records; load {os.getloadavg()[0]:.2f}", file=sys.stderr)
    name = f"bench_parity_{uuid.uuid4().hex[:8]}"
    with kit.both_runs(settings, name, recs, kit.parity_bundle(BTC_XRP_BUNDLE)) as runs:
        got = figures(runs)
    for runner in kit.RUNNERS:
        g = got[runner]
        print(
            f"{runner:9s} {g['records']:,} records in {g['wall_s']} s ({g['total_s']} s with start/stop): "
            f"{g['events_per_s']:,} events/s; {g['trades']} trades {g['by_symbol']}, "
            f"PnL {g['pnl_net_usdt']}, "
            f"funding {g['funding_usdt']} over {g['funding_settlements']} settlements"
        )
    print("rows compared: " + ", ".join(f"{n} {k}" for k, n in got["rows"].items()))
    print("every table equal" if got["equal"] else f"apart: {json.dumps(got['apart'], indent=1)}")
    print(f"totals apart: {got['totals_apart']}; checks failed: {got['checks_failed']}")
    print(f"load {os.getloadavg()[0]:.2f} (2 cores)")
    print(json.dumps({"bench": "demo_parity", "xrp": args.xrp, "btc_hours": args.btc_hours, **got}))


if __name__ == "__main__":
    main()
