"""SimVenue wallets and config: transfers (insufficient, repeated id) and config validation."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from simvenue_fixtures import BTC, FUT_BTC, SPOT_BTC, D, make_config, make_exchange, order

from agents.connectors.port import InsufficientBalance, VenueError
from chimera.model import Market

SPOT, FUT = Market.SPOT, Market.FUT


def test_transfer_moves_free_funds_once_per_transfer_id() -> None:
    ex = make_exchange()
    first = ex.transfer("USDT", D("2500"), SPOT, FUT, "tr-1")
    assert (first.ok, first.venue_tran_id, first.amount) == (True, "1", D("2500"))
    assert ex.balances(SPOT)["USDT"].free == D("7500")
    assert ex.balances(FUT)["USDT"].free == D("12500")
    again = ex.transfer("USDT", D("2500"), SPOT, FUT, "tr-1")
    assert again == first
    assert ex.balances(SPOT)["USDT"].free == D("7500")
    back = ex.transfer("USDT", D("0.5"), FUT, SPOT, "tr-2")
    assert back.venue_tran_id == "2"
    assert ex.balances(SPOT)["USDT"].free == D("7500.5")


def test_transfer_over_the_free_balance_is_refused_and_changes_nothing() -> None:
    ex = make_exchange()
    ex.on_trade(BTC, SPOT, 1_000, D("40000.00"), D("1"))
    ex.submit(order("l1", "BUY", "LIMIT", "0.2", price="39000.00"))  # locks 7807.8
    with pytest.raises(InsufficientBalance, match=r"free 2192\.2"):
        ex.transfer("USDT", D("2192.21"), SPOT, FUT, "tr-1")
    assert ex.balances(SPOT)["USDT"].free == D("2192.2")
    assert ex.balances(FUT)["USDT"].free == D("10000")
    with pytest.raises(VenueError, match="positive"):
        ex.transfer("USDT", D("0"), SPOT, FUT, "tr-2")
    # a refused id is not remembered: it may be sent again once funds are there
    ex.transfer("USDT", D("2192.2"), SPOT, FUT, "tr-1")
    assert ex.balances(FUT)["USDT"].free == D("12192.2")


def test_unknown_symbol_is_a_clear_error() -> None:
    ex = make_exchange()
    with pytest.raises(VenueError, match="ETHUSDT is not configured"):
        ex.on_trade("ETHUSDT", SPOT, 1, D("1"), D("1"))


def test_time_never_goes_back() -> None:
    ex = make_exchange()
    ex.on_trade(BTC, SPOT, 1_000, D("40000.00"), D("1"))
    with pytest.raises(ValueError, match="backwards"):
        ex.on_trade(BTC, SPOT, 999, D("40000.00"), D("1"))


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        ({"instruments": [SPOT_BTC, SPOT_BTC]}, "instrument listed twice: SPOT:BTCUSDT"),
        ({"leverage": {"ETHUSDT": 5}}, "not a FUT instrument"),
        ({"leverage": {BTC: 200}}, "within 1..125"),
        ({"initial_balances": {"SPOT": {"USDT": "-1"}}}, "negative"),
        ({"latency_ms": -1}, "latency_ms"),
        ({"fees": 1}, "fees"),
        ({"instruments": [{**FUT_BTC, "tick_size": "0"}]}, "tick_size"),
        ({"instruments": [{**FUT_BTC, "tick_size": "abc"}]}, "not a number"),
    ],
)
def test_bad_config_is_refused_naming_the_problem(overrides: dict[str, object], needle: str) -> None:
    with pytest.raises(ValidationError, match=needle):
        make_config(**overrides)


def test_config_is_frozen_and_fills_default_fees() -> None:
    cfg = make_config(instruments=[SPOT_BTC, {**FUT_BTC, "taker_fee": "0.0005"}])
    with pytest.raises(ValidationError):
        cfg.latency_ms = 5  # type: ignore[misc]
    spot, fut = cfg.instrument_list()
    assert (spot.maker_fee, spot.taker_fee) == (D("0.001"), D("0.001"))
    assert (fut.maker_fee, fut.taker_fee) == (D("0.0002"), D("0.0005"))
    assert cfg.leverage_for(BTC) == 10


def test_config_round_trips_through_json_exactly() -> None:
    cfg = make_config(latency_ms=25, leverage={BTC: 7}, market_slippage="0.00025")
    text = cfg.model_dump_json()
    again = type(cfg).model_validate_json(text)
    assert again == cfg
    assert again.market_slippage == D("0.00025") and again.initial_balances[SPOT]["BTC"] == D("1")
