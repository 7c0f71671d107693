# ruff: noqa: F811 (pytest fixtures are imported, then named as test arguments)
"""The API key and secret appear in no repr, no error, no log line and no request but the key header."""

from __future__ import annotations

import logging
import pickle
from decimal import Decimal as D
from typing import Any

import pytest
from binance_fixtures import API_KEY, API_SECRET, VenueFactory, make_venue, test_settings  # noqa: F401

from agents.connectors.port import OrderRequest, VenueError
from chimera.model import ClientOrderId, Market, OrderType, Side, Symbol

ORDER = OrderRequest(
    Symbol("BTCUSDT"), Market.FUT, Side.BUY, OrderType.MARKET, D("0.01"), ClientOrderId("c1")
)


def leaks(text: str) -> bool:
    return API_SECRET in text or API_KEY in text


async def test_repr_and_str_hide_the_keys(make_venue: VenueFactory) -> None:
    rig = await make_venue()
    for text in (repr(rig.venue), str(rig.venue), repr(test_settings()), str(test_settings().model_dump())):
        assert not leaks(text), text
    assert repr(rig.venue) == "BinanceVenue(env=demo, api_key=***)"


@pytest.mark.parametrize(
    "answer",
    [
        (400, {"code": -2010, "msg": "Account has insufficient balance for requested action."}),
        (401, {"code": -2015, "msg": f"Invalid API-key {API_KEY}, IP, or permissions for action."}),
        (500, f"<html>backend error for key {API_KEY}</html>"),
    ],
    ids=["refusal", "auth-echoing-the-key", "5xx-echoing-the-key"],
)
async def test_error_messages_carry_no_secret(make_venue: VenueFactory, answer: tuple[int, Any]) -> None:
    rig = await make_venue()
    rig.session.reply("POST", "/fapi/v1/order", answer)
    rig.session.reply("GET", "/fapi/v1/order", answer)
    with pytest.raises(VenueError) as err:
        await rig.venue.create_order(ORDER)
    exc = err.value
    for text in (str(exc), repr(exc), repr(exc.args), str(exc.code)):
        assert not leaks(text), text
    assert "signature=" not in str(exc)  # signed query strings are cut from urls


async def test_the_secret_is_never_sent_and_the_key_only_in_its_header(make_venue: VenueFactory) -> None:
    rig = await make_venue()
    rig.session.reply("POST", "/fapi/v1/order", TimeoutError())
    rig.session.reply("GET", "/fapi/v1/order", TimeoutError())
    with pytest.raises(VenueError):
        await rig.venue.create_order(ORDER)
    private = [r for r in rig.session.sent if "exchangeInfo" not in r.path]
    assert private
    for req in private:
        assert API_SECRET not in f"{req.url} {req.body} {req.headers}"
        assert API_KEY not in f"{req.url} {req.body}"
        assert req.headers.get("X-MBX-APIKEY") == API_KEY


async def test_debug_logging_redacts_the_key(
    make_venue: VenueFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    rig = await make_venue()
    rig.session.reply("GET", "/api/v3/account", (200, {"balances": []}))
    await rig.venue.balances(Market.SPOT)
    lines = [r.getMessage() for r in caplog.records]
    assert any("/api/v3/account" in line for line in lines), "ccxt's debug request log was not captured"
    assert not any(leaks(line) for line in lines)
    assert not leaks(caplog.text)


def test_settings_keep_keys_out_of_dumps_and_pickles() -> None:
    settings = test_settings()
    assert not leaks(settings.model_dump_json())
    assert settings.binance_api_secret.get_secret_value() == API_SECRET
    assert API_SECRET.encode() not in pickle.dumps(repr(settings))
