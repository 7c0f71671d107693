"""What ``chimera demo`` trades when not told: on the shipped XRP week with a slice of the BTC month
(the default's data, cut for speed) it picks the two-perpetual bundle and pins NORMAL, trades
XRP as well as BTC, and the funding it records on XRP positions is, row by row, what the shipped
files say it must be: the position held at the settlement (from ``fills``) x the mark price then
(``-8h-mark``) x the rate for that settlement (``-8h-funding_rate``), longs paying a positive rate,
to the venue's 8 places. The summary's PnL is the fills' realised PnL less fees plus funding."""

from __future__ import annotations

import sys
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

import pandas as pd
import pytest
from demo_kit import REPO, btc_slice, demo, demo_env

from agents.connectors.recordings import load_files
from agents.demo.defaults import BTC_XRP_BUNDLE, DEFAULT_BUNDLE, choose
from agents.demo.summary import Summary, render
from sinks.clickhouse.server_backend import ServerBackend

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engine"))
from engine_kit import recompute

D = Decimal
XRP = REPO / "data/freqtrade"
XRP_FILES = [
    XRP / "XRP_USDT_USDT-5m-futures.feather",
    XRP / "XRP_USDT_USDT-8h-funding_rate.feather",
    XRP / "XRP_USDT_USDT-8h-mark.feather",
]
EIGHT_H = 8 * 3_600_000
GRACE_MS = 60_000  # SimVenue waits this long for a settlement's own rate (EngineConfig default)


def test_the_default_bundle_follows_the_symbols_and_the_regime_is_pinned_where_the_job_has_no_data(
    tmp_path: Path,
) -> None:
    btc = load_files([btc_slice(tmp_path, bars=1440)])
    both = list(load_files([*XRP_FILES, btc_slice(tmp_path, bars=1440)]))

    alone = choose(list(btc), None, None)
    assert alone.path == DEFAULT_BUNDLE and alone.regime is None and alone.notes == []  # daily job

    shipped = choose(both, None, None)
    assert shipped.path == BTC_XRP_BUNDLE and set(shipped.bundle.strategy.instruments) == {
        "BTCUSDT",
        "XRPUSDT",
    }
    (why,) = shipped.notes
    assert shipped.regime == "NORMAL" and "XRPUSDT's (7 day(s), 2021-11-15 .. 2021-11-21)" in why

    assert choose(both, None, "DAILY").regime is None  # asked for: the job, XRP left unlabelled
    assert choose(both, None, "EXTREME").regime == "EXTREME"
    told = choose(both, alone.bundle, None)  # a BTC-only bundle on both files: XRP is not traded
    assert told.path is None and told.regime is None


def _series(path: Path, col: str | None = None) -> list[tuple[int, Decimal]]:
    """(open time ms, value) of a freqtrade file: ``close`` of candles, ``open`` (the rate) of the
    funding file, read here with pandas, decimals by the float's shortest repr (as written)."""
    frame = pd.read_feather(path)
    col = col or ("open" if "funding_rate" in path.name else "close")
    return [
        (int(t.value // 1_000_000), D(repr(float(v)))) for t, v in zip(frame["date"], frame[col], strict=True)
    ]


def _at12(x: Decimal) -> Decimal:
    return x.quantize(D("1e-12"), rounding=ROUND_HALF_EVEN)


def expected_funding(
    db: ServerBackend, until_ms: int
) -> list[tuple[int, Decimal, Decimal, Decimal, Decimal]]:
    """Every XRP settlement the shipped files and the fills call for: (time, qty, mark, rate, amount)."""
    fills = db.query("SELECT ts, side, qty FROM fills FINAL WHERE symbol = 'XRPUSDT' ORDER BY ts").rows
    trades = _series(XRP_FILES[0])
    rates = [(t - t % EIGHT_H, r) for t, r in _series(XRP_FILES[1])]  # stamped a few ms after the slot
    marks = _series(XRP_FILES[2])
    at_slot = dict(_series(XRP_FILES[2], "open"))  # the mark at T, published with T's own rate
    out = []
    first = trades[0][0] // EIGHT_H * EIGHT_H + EIGHT_H
    for when in range(first, until_ms - GRACE_MS + 1, EIGHT_H):
        qty = sum((q if s == "BUY" else -q for ts, s, q in fills if ts < when), D(0))  # held at T
        known = [(slot, r) for slot, r in rates if slot <= when]
        if not qty or not known:
            continue
        # T's own rate comes with the mark at T (the 8h mark candle opening at T); with the latest
        # rate instead, the venue's mark: the last mark tick before T (the 8h candle ending at T
        # closes at T - 1 ms), before the mark file starts the last trade (a 5-minute close)
        before = [m for t, m in marks if t < when] or [c for t, c in trades if t < when]
        (slot, rate), crossed = known[-1], before[-1]
        mark = at_slot.get(when, crossed) if slot == when else crossed
        amount = (-qty * mark * rate).quantize(D("1e-8"), rounding=ROUND_HALF_EVEN)
        # the record holds mark and rate at its columns' 12 places (the files' float noise:
        # 0.9470000000000001, -0.0021933400000000002); the amount is of the exact values
        out.append((when, qty, _at12(mark), _at12(rate), amount))
    return out


@pytest.mark.slow
@pytest.mark.redis
@pytest.mark.clickhouse
def test_the_default_demo_trades_xrp_and_its_funding_is_the_shipped_rates_and_marks(
    tmp_path: Path, redis_url: str, clickhouse_url: str
) -> None:
    # the CI stack's redis-server and clickhouse-server: the demo starts no embedded part
    env = demo_env(tmp_path / "chimera")
    env.update(
        CHIMERA_REDIS_URL=redis_url,
        CHIMERA_CLICKHOUSE_BACKEND="server",
        CHIMERA_CLICKHOUSE_URL=clickhouse_url,
    )
    btc = btc_slice(tmp_path, bars=1440)  # one day of BTC, six weeks after the XRP week
    ran = demo(env, *map(str, XRP_FILES), str(btc), "--json", "--no-progress", timeout=600)
    assert ran.rc == 0, ran.err[-3000:]
    assert "started" not in ran.err and "regime pinned NORMAL" in ran.err
    s = ran.summary
    assert s["ok"] is True, s["checks"]
    assert s["bundle_id"] == "demo-btc-xrp-5m" and s["regime"] == "NORMAL" and s["engine"] == "in-process"
    assert s["by_symbol"]["XRPUSDT"]["trades"] > 0 and s["by_symbol"]["BTCUSDT"]["trades"] > 0
    assert s["open_positions"] == 0

    db = ServerBackend(clickhouse_url, s["database"])
    try:
        want = expected_funding(db, max(r.ts for r in load_files([btc])))  # to the last record
        got = db.query(
            "SELECT funding_time, position_qty, mark_price, rate, amount_usdt FROM funding_records FINAL "
            "WHERE symbol = 'XRPUSDT' ORDER BY funding_time"
        ).rows
        assert [tuple(r) for r in got] == want  # every settlement, exact to the decimal
        assert db.query("SELECT count() FROM funding_records FINAL WHERE symbol != 'XRPUSDT'").rows[0][0] == 0

        # held across a settlement while XRP traded: a position open before T and closed after it
        xrp_end = _series(XRP_FILES[0])[-1][0]
        spans = db.query(
            "SELECT pos_id, min(ts), maxIf(ts, status = 'CLOSED') FROM positions_snapshots FINAL "
            "WHERE symbol = 'XRPUSDT' GROUP BY pos_id"
        ).rows
        held = [(p, t) for p, lo, hi in spans for t, *_ in want if lo < t < hi and t <= xrp_end]
        assert held, "no XRP position was open across a funding time of the XRP week"
        # none after XRP's last candle: its marks and rates running on past it are not replayed,
        # and what was open when its data ended was closed there (agents.engine.ends)
        assert [r for r in want if r[0] > xrp_end] == []
        assert [n for n in s["notes"] if n.startswith("XRPUSDT FUT: ") and "not replayed" in n], s["notes"]
        assert not [n for n in s["notes"] if "fell after its last bar" in n], s["notes"]

        funding = sum((r[4] for r in want), D(0))
        assert D(s["funding"]) == funding != 0
        assert s["funding_settlements"] == len(want) == s["by_symbol"]["XRPUSDT"]["funding_settlements"]
        (fees,) = db.query("SELECT sum(fee) FROM fills FINAL").rows[0]
        assert D(s["fees"]) == fees
        # PnL net = realised from the fills (average cost) - fees + funding, from the tables alone;
        # S6 books funding unrounded, the venue to 8 places: half a unit of the 8th per settlement
        cash = recompute(db).cash
        assert abs(D(s["pnl_net"]) - cash) <= len(want) * D("0.5e-8")
        assert D(s["pnl_net"]).quantize(D("0.01")) == cash.quantize(D("0.01"))
    finally:
        db.execute(f"DROP DATABASE IF EXISTS {db.database}")
        db.close()


def test_the_text_form_names_the_regime_and_each_symbols_trades_and_funding() -> None:
    s = Summary(
        run_id="r1",
        database="bt_r1",
        bundle_id="demo-btc-xrp-5m",
        bundle_rev="rev",
        engine="in-process",
        files=["a.csv", "b.feather"],
        records=10,
        ticks=9,
        wall_s=1.0,
        events_per_s=10.0,
        initial_usdt=D(1000),
        regime="NORMAL",
        funding=D("-0.75"),
        funding_settlements=3,
        by_symbol={
            "BTCUSDT": {"trades": 2, "wins": 1, "pnl_net": D("5"), "funding": D(0), "funding_settlements": 0},
            "XRPUSDT": {
                "trades": 1,
                "wins": 0,
                "pnl_net": D("-2"),
                "funding": D("-0.75"),
                "funding_settlements": 3,
            },
        },
    )
    text = render(s)
    assert "+ funding -0.75 USDT (3 settlements)" in text
    assert "by symbol     BTCUSDT 2 trades, 5.00 USDT; XRPUSDT 1 trades, -2.00 USDT" in text
    assert "(funding -0.75 USDT over 3 settlements)" in text and "regime        pinned NORMAL" in text
    assert "regime        S2's daily job" in render(Summary(**{**s.__dict__, "regime": "DAILY"}))
