"""``chimera demo`` as a user runs it: on a fresh data dir and free ports it starts its own embedded
stack (redis-server, the chdb owner), replays the file, prints the summary and stops what it
started; every figure of the summary equals SQL over the tables it recorded, and the cash
recomputed from ``fills`` equals its PnL. A stack that was already up is left up."""

from __future__ import annotations

import json
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from demo_kit import btc_slice, demo, demo_env, settings_of

from chimera.stack import control, parts
from sinks.clickhouse.http_backend import ChdbHttpBackend

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engine"))
from engine_kit import recompute

D = Decimal


def sql_figures(db: ChdbHttpBackend) -> dict[str, object]:
    """The summary's figures, recomputed here from the record with SQL of this test's own."""
    last = (
        "SELECT pos_id, argMax(status, seq) AS st, argMax(realized_pnl, seq) AS pnl "
        "FROM positions_snapshots FINAL GROUP BY pos_id"
    )
    trades, wins, pnl = db.query(
        f"SELECT countIf(st = 'CLOSED'), countIf(st = 'CLOSED' AND pnl > 0), sum(pnl) FROM ({last})"
    ).rows[0]
    orders = db.query(
        "SELECT t, count() FROM (SELECT client_order_id, argMax(order_type, version) AS t "
        "FROM orders FINAL GROUP BY client_order_id) GROUP BY t"
    ).rows
    fills, fees = db.query("SELECT count(), sum(fee) FROM fills FINAL").rows[0]
    (slip,) = db.query("SELECT avg(slippage_bps) FROM fills FINAL WHERE NOT isNaN(slippage_bps)").rows[0]
    reasons = db.query("SELECT reason, count() FROM signals FINAL GROUP BY reason").rows
    (funding,) = db.query("SELECT sum(amount_usdt) FROM funding_records FINAL").rows[0]
    return {
        "trades": trades,
        "wins": wins,
        "pnl_net": D(pnl),
        "orders_by_type": dict(orders),
        "fills": fills,
        "fees": D(fees),
        "slippage_bps": slip,
        "decisions": dict(reasons),
        "funding": D(funding),
    }


@pytest.mark.slow
def test_demo_runs_its_own_stack_and_its_summary_is_the_record(tmp_path: Path) -> None:
    data = btc_slice(tmp_path, bars=3 * 1440)  # the first three days: 17,280 ticks
    env = demo_env(tmp_path / "chimera")
    ran = demo(env, str(data), "--json", "--regime", "NORMAL", "--no-progress")
    assert ran.rc == 0, ran.err
    assert "embedded stack was not running: started redis, chdb" in ran.err
    assert "stopped what the demo started (redis, chdb)" in ran.err
    settings = settings_of(env)
    assert not any(st.up or st.pid for st in control.status(parts.all_parts(settings)))  # nothing left

    s = ran.summary
    assert s["ok"] is True and all(c["ok"] for c in s["checks"])
    assert s["records"] == s["ticks"] == 17_280 and s["engine"] == "in-process"
    assert s["trades"] > 50 and s["open_positions"] == 0
    assert json.loads(ran.out.strip().splitlines()[-1]) == s  # one JSON line on stdout, nothing else

    # the record outlives the stack: bring the chdb owner back and read it
    owner = parts.chdb(settings)
    control.up([owner])
    try:
        db = ChdbHttpBackend(f"http://127.0.0.1:{settings.chdb_http_port}", s["database"])
        got = sql_figures(db)
        assert got["trades"] == s["trades"] and got["wins"] == s["wins"]
        assert got["pnl_net"] == D(s["pnl_net"])
        assert got["orders_by_type"] == s["orders_by_type"]
        assert got["fills"] == s["fills"] and got["fees"] == D(s["fees"])
        assert got["slippage_bps"] == pytest.approx(s["slippage_bps"], rel=1e-12)
        assert got["decisions"] == s["decisions"]
        assert sum(s["decisions"].values()) == 3 * 1440 - 1  # every closed bar decided once
        assert got["funding"] == D(s["funding"]) == 0  # BTC bars carry no funding
        # cash from the fills alone (average cost, in venue order) is the PnL the summary shows
        assert recompute(db).cash == D(s["pnl_net"])
        assert D(s["gross"]) - D(s["fees"]) + D(s["funding"]) == D(s["pnl_net"])
        assert -D(s["max_drawdown"]) >= max(D(0), -D(s["pnl_net"]))  # never less than the final loss
        db.close()
    finally:
        control.down([owner])


@pytest.mark.slow
def test_demo_leaves_a_stack_it_did_not_start_running(tmp_path: Path) -> None:
    data = btc_slice(tmp_path, bars=720)
    env = demo_env(tmp_path / "chimera")
    settings = settings_of(env)
    up = [parts.redis(settings), parts.chdb(settings)]
    control.up(up)
    try:
        ran = demo(env, str(data), "--regime", "NORMAL", "--no-progress")
        assert ran.rc == 0, ran.err
        assert "started" not in ran.err and "stopped" not in ran.err
        assert all(st.up for st in control.status(up))
        assert "checked against the engine:" in ran.out and "MISMATCH" not in ran.out
        assert "decisions     719:" in ran.out
    finally:
        control.down(up)


def test_a_bad_bundle_stops_before_anything_starts(tmp_path: Path) -> None:
    env = demo_env(tmp_path / "chimera")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"bundle_id": "bad", "strategy": {"instruments": {}}}))
    ran = demo(env, "--bundle", str(bad), timeout=60)
    assert ran.rc == 1 and "bundle refused" in ran.err and "strategy" in ran.err
    assert not (tmp_path / "chimera" / "run").exists()  # no part was ever started
