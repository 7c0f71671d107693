"""``chimera demo --kafka`` as a user runs it, on a fresh data dir and free ports: it starts its own
embedded stack with Tansu (the embedded Kafka), runs the worker, replays the file through it,
prints a summary whose every check of the ClickHouse record against what the run consumed passes,
and stops what it started. The same file through the in-process engine gives the same trades,
orders, fills and PnL."""

from __future__ import annotations

from pathlib import Path

import pytest
from demo_kit import btc_slice, demo, demo_env, settings_of

from chimera.stack import control, parts

pytestmark = [pytest.mark.slow, pytest.mark.tansu]
SAME = ("decisions", "trades", "wins", "open_positions", "pnl_net", "fees", "orders_by_type", "fills")


def test_demo_kafka_on_its_own_tansu_summarises_the_record_as_in_process(tmp_path: Path) -> None:
    data = btc_slice(tmp_path, bars=120)  # two hours from 2021-12-31 23:00: three trades
    env = demo_env(tmp_path / "chimera")
    ran = demo(env, str(data), "--kafka", "--json", "--regime", "NORMAL", "--no-progress", timeout=600)
    assert ran.rc == 0, ran.err[-3000:]
    assert "embedded stack was not running: started tansu, redis, chdb" in ran.err
    assert "stopped what the demo started (tansu, redis, chdb)" in ran.err
    assert not any(st.up or st.pid for st in control.status(parts.all_parts(settings_of(env))))

    kafka = ran.summary
    assert kafka["engine"] == "kafka" and kafka["ok"] is True, kafka["checks"]
    assert {c["name"] for c in kafka["checks"]} >= {"decisions", "orders", "fills", "PnL = wallet", "gate"}
    assert kafka["records"] == kafka["ticks"] == 480 and kafka["trades"] >= 2
    assert kafka["open_positions"] == 0  # closed at the end of the data, as the engine does

    again = demo(env, str(data), "--json", "--regime", "NORMAL", "--no-progress")
    assert again.rc == 0, again.err[-3000:]
    engine = again.summary
    assert engine["engine"] == "in-process" and engine["ok"] is True
    assert {k: kafka[k] for k in SAME} == {k: engine[k] for k in SAME}
