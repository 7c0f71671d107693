"""SimVenue through the async Venue port, and determinism of the whole exchange."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from decimal import ROUND_HALF_UP, localcontext
from pathlib import Path

import pytest
from simvenue_fixtures import BTC, D, make_config, order, scripted_run

from agents.connectors.port import OrderNotFound, OrderRejected, Venue
from agents.connectors.simvenue import SimVenue
from chimera.model import ClientOrderId, Clock, Market, OrderStatus, Symbol

SPOT, FUT = Market.SPOT, Market.FUT
HERE = Path(__file__).resolve().parent


async def test_simvenue_implements_the_venue_port() -> None:
    venue: Venue = SimVenue(make_config())  # mypy checks the port structurally
    assert isinstance(venue, Venue)
    markets = await venue.load_markets()
    assert sorted(markets) == [(FUT, BTC), (SPOT, BTC)]
    assert markets[(FUT, Symbol(BTC))].tick_size == D("0.1")
    assert (await venue.balances(SPOT))["BTC"].free == D("1")


async def test_refusals_raise_with_binance_codes_and_stay_fetchable() -> None:
    venue = SimVenue(make_config())
    venue.on_quote(BTC, SPOT, 1_000, [(D("39999.99"), D("1"))], [(D("40000.00"), D("1"))])
    with pytest.raises(OrderRejected, match="immediately match and take") as err:
        await venue.create_order(order("pm", "BUY", "LIMIT_MAKER", "0.01", price="40000.00"))
    assert err.value.code == -2010
    fetched = await venue.fetch_order(SPOT, Symbol(BTC), ClientOrderId("pm"))
    assert fetched.status is OrderStatus.REJECTED
    venue.on_trade(BTC, FUT, 1_000, D("40000.0"), D("1"))
    gtx = await venue.create_order(
        order("g", "BUY", "LIMIT", "0.01", market="FUT", price="40000.0", tif="GTX")
    )
    assert gtx.status is OrderStatus.EXPIRED
    with pytest.raises(OrderNotFound) as missing:
        await venue.fetch_order(SPOT, Symbol(BTC), ClientOrderId("nope"))
    assert missing.value.code == -2013


async def test_open_cancel_and_cancel_again() -> None:
    venue = SimVenue(make_config())
    venue.on_trade(BTC, SPOT, 1_000, D("40000.00"), D("1"))
    await venue.create_order(order("a", "BUY", "LIMIT", "0.01", price="39000.00"))
    await venue.create_order(order("b", "SELL", "LIMIT", "0.01", price="41000.00"))
    assert [o.client_order_id for o in await venue.open_orders(SPOT)] == ["a", "b"]
    assert await venue.open_orders(FUT) == []
    cancelled = await venue.cancel_order(SPOT, Symbol(BTC), ClientOrderId("a"))
    assert cancelled.status is OrderStatus.CANCELED
    assert [o.client_order_id for o in await venue.open_orders(SPOT, Symbol(BTC))] == ["b"]
    with pytest.raises(OrderNotFound) as err:
        await venue.cancel_order(SPOT, Symbol(BTC), ClientOrderId("a"))
    assert err.value.code == -2011
    assert (await venue.balances(SPOT))["USDT"].locked == 0


async def test_positions_funding_and_watch_trades() -> None:
    venue = SimVenue(make_config(market_slippage="0"))
    seen: list[dict[str, object]] = []

    async def watch() -> None:
        async for trade in venue.watch_trades(FUT, Symbol(BTC)):
            seen.append(trade)

    task = asyncio.create_task(watch())
    await asyncio.sleep(0)
    venue.on_trade(BTC, FUT, 1_000, D("40000.0"), D("1"))
    await venue.create_order(order("long", "BUY", "MARKET", "0.1", market="FUT"))
    venue.on_trade(BTC, FUT, 2_000, D("40100.0"), D("0.5"))
    venue.on_funding_rate(BTC, 2_000, D("0.0001"), 28_800_000)
    [pos] = await venue.positions()
    assert (pos.qty, pos.unrealized_pnl, pos.leverage) == (D("0.1"), D("10"), 10)
    assert (await venue.funding_rate(Symbol(BTC))).rate == D("0.0001")
    clock: Clock = venue  # the venue tells event time to whoever shares it
    assert clock.now_ms() == 2_000
    assert [r.funding_time for r in await venue.funding_history(Symbol(BTC))] == [28_800_000]
    await venue.close()
    await asyncio.wait_for(task, 1)
    assert [(t["ts"], t["price"]) for t in seen] == [(1_000, D("40000.0")), (2_000, D("40100.0"))]


def test_two_runs_are_identical() -> None:
    first, second = scripted_run(), scripted_run()
    assert first == second
    assert first.count("Fill(") > 20  # the run really trades
    assert "FundingPayment(" in first


def test_results_do_not_depend_on_the_callers_decimal_context() -> None:
    with localcontext() as ctx:  # what ccxt leaves behind, and worse
        ctx.rounding, ctx.prec = ROUND_HALF_UP, 12
        hostile = scripted_run()
    assert hostile == scripted_run()


def test_another_process_with_another_hash_seed_gives_the_same_bytes() -> None:
    code = "import sys; sys.path.insert(0, sys.argv[1]); from simvenue_fixtures import scripted_run; " \
        "sys.stdout.write(scripted_run())"  # fmt: skip
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run(
        [sys.executable, "-c", code, str(HERE)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=60,
        cwd=HERE.parents[2],
    )
    assert out.stdout == scripted_run()


async def test_market_buy_beyond_the_wallet_raises_insufficient_balance() -> None:
    from agents.connectors.port import InsufficientBalance

    venue = SimVenue(make_config())
    venue.on_trade(BTC, SPOT, 1_000, D("40000.00"), D("5"))
    with pytest.raises(InsufficientBalance, match="insufficient balance") as err:
        await venue.create_order(order("big", "BUY", "MARKET", "0.3"))  # 12,006 USDT > 10,000
    assert err.value.code == -2010
    assert (await venue.balances(SPOT))["USDT"].free == D("10000")
    venue.on_trade(BTC, FUT, 1_000, D("40000.0"), D("5"))
    with pytest.raises(InsufficientBalance, match="Margin is insufficient") as err:
        await venue.create_order(order("huge", "BUY", "MARKET", "3", market="FUT"))  # 12,000 margin
    assert err.value.code == -2019
