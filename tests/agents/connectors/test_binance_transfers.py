# ruff: noqa: F811 (pytest fixtures are imported, then named as test arguments)
"""Spot ↔ USDT-M transfers: one send per transfer_id, unknown outcomes resolved from history."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from binance_fixtures import START_MS, VenueFactory, assert_matches_recording, make_venue, static_case  # noqa: F401

from agents.connectors.binance import InvalidRequest
from agents.connectors.port import OutcomeUnknown, VenueError
from chimera.model import Market


def history(*rows: tuple[str, str, int]) -> tuple[int, dict[str, object]]:
    """``GET /sapi/v1/asset/transfer`` as Binance documents it."""
    return 200, {
        "total": len(rows),
        "rows": [
            {
                "asset": "USDT",
                "amount": amount,
                "type": "MAIN_UMFUTURE",
                "status": "CONFIRMED",
                "tranId": tran,
                "timestamp": ts,
            }
            for amount, tran, ts in ((a, int(t), ts) for a, t, ts in rows)
        ],
    }


async def test_same_transfer_id_is_sent_once(make_venue: VenueFactory) -> None:
    rig = await make_venue(binance_testnet=False)
    rig.session.reply("POST", "/sapi/v1/asset/transfer", (200, {"tranId": 13526853623}))
    first = await rig.venue.transfer("USDT", D("25.5"), Market.FUT, Market.SPOT, "tr-7")
    again = await rig.venue.transfer("USDT", D("25.5"), Market.FUT, Market.SPOT, "tr-7")
    (sent,) = rig.session.to("POST", "/sapi/v1/asset/transfer")
    assert sent.params == {"asset": "USDT", "amount": "25.5", "type": "UMFUTURE_MAIN"}
    assert first == again and first.venue_tran_id == "13526853623" and first.amount == D("25.5")


async def test_unknown_outcome_is_resolved_from_history_without_resending(make_venue: VenueFactory) -> None:
    rig = await make_venue(binance_testnet=False)
    rig.session.reply("POST", "/sapi/v1/asset/transfer", TimeoutError())
    rig.session.reply(
        "GET", "/sapi/v1/asset/transfer", history(("10", "111", START_MS + 5), ("3", "112", START_MS + 9))
    )
    result = await rig.venue.transfer("USDT", D("10"), Market.SPOT, Market.FUT, "tr-8")
    assert (result.venue_tran_id, result.ok) == ("111", True) and "history" in result.message
    assert len(rig.session.to("POST", "/sapi/v1/asset/transfer")) == 1
    (query,) = rig.session.to("GET", "/sapi/v1/asset/transfer")
    recorded = static_case("request", "fetchTransfers", "fetch transfers")
    assert_matches_recording(query, recorded, extra={"startTime": str(START_MS - 1_000)})


async def test_ambiguous_history_leaves_it_unknown_and_never_resends(make_venue: VenueFactory) -> None:
    rig = await make_venue(binance_testnet=False)
    rig.session.reply("POST", "/sapi/v1/asset/transfer", TimeoutError())
    rig.session.reply(
        "GET", "/sapi/v1/asset/transfer", history(("10", "111", START_MS), ("10", "113", START_MS))
    )
    for _ in range(2):  # asking again re-runs the resolution, not the send
        with pytest.raises(OutcomeUnknown, match="2 matching rows"):
            await rig.venue.transfer("USDT", D("10"), Market.SPOT, Market.FUT, "tr-9")
    assert len(rig.session.to("POST", "/sapi/v1/asset/transfer")) == 1
    assert len(rig.session.to("GET", "/sapi/v1/asset/transfer")) == 2


async def test_refused_transfer_frees_its_id(make_venue: VenueFactory) -> None:
    rig = await make_venue(binance_testnet=False)
    rig.session.reply(
        "POST",
        "/sapi/v1/asset/transfer",
        (400, {"code": -5013, "msg": "Asset transfer failed: insufficient balance"}),
        (200, {"tranId": 99}),
    )
    with pytest.raises(VenueError, match="-5013"):
        await rig.venue.transfer("USDT", D("1"), Market.SPOT, Market.FUT, "tr-10")
    result = await rig.venue.transfer("USDT", D("1"), Market.SPOT, Market.FUT, "tr-10")
    assert result.venue_tran_id == "99"


async def test_bad_transfers_are_refused_locally(make_venue: VenueFactory) -> None:
    rig = await make_venue(binance_testnet=False)
    with pytest.raises(InvalidRequest):
        await rig.venue.transfer("USDT", D("0"), Market.SPOT, Market.FUT, "tr-11")
    with pytest.raises(InvalidRequest):
        await rig.venue.transfer("USDT", D("1"), Market.SPOT, Market.SPOT, "tr-12")
    assert not rig.session.to("POST", "/sapi/v1/asset/transfer")


async def test_demo_trading_has_no_wallet_transfers(make_venue: VenueFactory) -> None:
    rig = await make_venue(binance_testnet=True)
    with pytest.raises(VenueError, match="sapi"):
        await rig.venue.transfer("USDT", D("1"), Market.SPOT, Market.FUT, "tr-13")
    assert not rig.session.to("POST", "/sapi/v1/asset/transfer")
