"""What the demo replays by default and the extra bundle it ships: the shipped files are there and
load, and the two-perpetual bundle is valid, on 5-minute bars, with both instruments."""

from __future__ import annotations

from pathlib import Path

from agents.config.bundle import parse_bundle
from agents.connectors.recordings import select_files
from agents.demo.cli import DEFAULT_BUNDLE, REPO, SHIPPED

BTC_XRP = Path(REPO) / "agents/demo/btc_xrp_5m_bundle.json"


def test_the_shipped_files_are_the_btc_month_and_the_xrp_week_with_its_funding() -> None:
    paths = [REPO / p for p in SHIPPED]
    chosen, notes = select_files(paths)
    assert chosen == paths and notes == []
    assert any("funding_rate" in p.name for p in chosen) and any("-mark" in p.name for p in chosen)


def test_the_two_perpetual_bundle_is_the_default_on_five_minute_bars() -> None:
    default = parse_bundle(DEFAULT_BUNDLE.read_text())
    both = parse_bundle(BTC_XRP.read_text())
    assert set(both.strategy.instruments) == {"BTCUSDT", "XRPUSDT"}
    assert both.features.interval_ms == 300_000 and default.features.interval_ms == 60_000
    assert both.strategy.rules == default.strategy.rules and both.rev != default.rev
