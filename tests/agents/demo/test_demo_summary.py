"""The summary's own arithmetic: the drawdown of the equity path folded from snapshots, and the
text and JSON forms (numbers exact, one line)."""

from __future__ import annotations

import json
from decimal import Decimal

from agents.demo.summary import Check, Summary, drawdown, render

D = Decimal


def test_drawdown_follows_each_position_latest_value_from_the_running_peak() -> None:
    path = [
        (1, "a", 0, D("-1")),  # a opens: equity 999
        (2, "a", 1, D("30")),  # a marked up: 1030 (the peak)
        (3, "b", 0, D("-2")),  # b opens beside it: 1028
        (4, "a", 2, D("-10")),  # a falls back: 988 -> 42 below the peak
        (5, "b", 1, D("50")),  # b recovers everything: 1040, a new peak
        (6, "b", 2, D("45")),  # 1035
    ]
    worst, pct = drawdown(path, D(1000))
    assert worst == D("-42")
    assert pct == float(D("-42") / D("1030"))
    assert drawdown([], D(1000)) == (D(0), 0.0)


def summary() -> Summary:
    s = Summary(
        run_id="r1",
        database="bt_r1",
        bundle_id="default",
        bundle_rev="rev",
        engine="in-process",
        files=["a.csv"],
        records=10,
        ticks=9,
        wall_s=2.0,
        events_per_s=5.0,
        initial_usdt=D(1000),
        trades=4,
        wins=1,
        pnl_net=D("-12.5"),
        fees=D("2.25"),
        funding=D("-0.25"),
        orders_by_type={"MARKET": 8, "STOP_MARKET": 5},
        decisions={"NO_SIGNAL": 7, "EMA_CROSS_UP": 2},
    )
    s.checks = [Check("fills", "8", "8", True)]
    return s


def test_the_json_form_is_exact_and_says_whether_the_record_checked_out() -> None:
    s = summary()
    doc = json.loads(json.dumps(s.to_json()))
    assert doc["pnl_net"] == "-12.5" and doc["gross"] == "-10.00" and doc["win_rate"] == 0.25
    assert doc["ok"] is True and doc["checks"][0]["name"] == "fills"
    s.checks.append(Check("fees", "1", "2", False))
    assert s.to_json()["ok"] is False


def test_the_text_form_names_every_figure_and_any_mismatch() -> None:
    s = summary()
    s.checks.append(Check("fees", "2.25", "2.5", False))
    text = render(s)
    for part in (
        "win rate 25.0%",
        "-12.50 USDT",
        "MARKET 8, STOP_MARKET 5",
        "decisions     9:",
        "5 events/s",
    ):
        assert part in text
    assert "MISMATCH      fees: record 2.25, engine 2.5" in text
