"""Binance markets, balances, positions and funding payloads → port objects (pure, exact).

Instruments are read from Binance's own exchangeInfo filters (ccxt keeps them under ``info``):
ccxt's ``precision`` depends on its precision mode (TICK_SIZE for Binance today, digit counts in
older fixtures), the filters do not.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from agents.connectors.binance.parse import dec, dec_or_none
from agents.connectors.port import Balance, FundingRate, Instrument, Position, VenueError
from chimera.model import Market, Symbol, to_decimal


def _filters(info: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    return {str(f["filterType"]): f for f in info.get("filters") or ()}


def instrument(ccxt_market: Mapping[str, Any], market: Market) -> Instrument:
    """Build an Instrument from one ccxt market (its raw exchangeInfo entry and fee rates)."""
    info = ccxt_market["info"]
    filters = _filters(info)
    try:
        tick = dec(filters["PRICE_FILTER"]["tickSize"])
        lot = filters["LOT_SIZE"]
    except KeyError as exc:
        raise VenueError(f"{info.get('symbol')}: exchangeInfo lacks filter {exc}") from exc
    # spot: NOTIONAL.minNotional (older: MIN_NOTIONAL.minNotional); futures: MIN_NOTIONAL.notional
    notional = filters.get("NOTIONAL") or filters.get("MIN_NOTIONAL") or {}
    min_notional = notional.get("minNotional", notional.get("notional", "0"))
    return Instrument(
        symbol=Symbol(str(info["symbol"])),
        market=market,
        base=str(ccxt_market["base"]),
        quote=str(ccxt_market["quote"]),
        tick_size=tick,
        lot_size=dec(lot["stepSize"]),
        min_qty=dec(lot["minQty"]),
        min_notional=dec(min_notional),
        # ccxt's fee rates are floats (0.001): repr gives the exact decimal they were written as
        maker_fee=to_decimal(ccxt_market.get("maker") or 0),
        taker_fee=to_decimal(ccxt_market.get("taker") or 0),
    )


def spot_balances(account: Mapping[str, Any]) -> dict[str, Balance]:
    """``GET /api/v3/account``: free and locked per asset; empty assets left out."""
    out: dict[str, Balance] = {}
    for row in account.get("balances") or ():
        bal = Balance(str(row["asset"]), dec(row["free"]), dec(row["locked"]))
        if bal.total != 0:
            out[bal.asset] = bal
    return out


def futures_balances(account: Mapping[str, Any]) -> dict[str, Balance]:
    """``GET /fapi/v3/account``: free = availableBalance, locked = initialMargin (positions + orders).

    In single-asset mode their sum is the margin balance (wallet + unrealized PnL).
    """
    out: dict[str, Balance] = {}
    for row in account.get("assets") or ():
        free, locked = dec(row["availableBalance"]), dec(row["initialMargin"])
        if dec(row["walletBalance"]) != 0 or locked != 0:
            out[str(row["asset"])] = Balance(str(row["asset"]), free, locked)
    return out


def position(row: Mapping[str, Any]) -> Position:
    """One ``positionRisk`` row (v3; v2 rows also carry ``leverage``)."""
    notional = dec(row.get("notional") or row.get("notionalValue") or "0")
    initial = dec(row.get("positionInitialMargin") or row.get("initialMargin") or "0")
    if row.get("leverage") not in (None, ""):
        leverage = int(dec(row["leverage"]))
    else:
        # v3 dropped ``leverage``; initial margin is notional / leverage, rounded to 8 dp by Binance
        leverage = int((abs(notional) / initial).quantize(Decimal(1))) if initial > 0 else 0
    isolated = dec(row.get("isolatedWallet") or "0")
    return Position(
        symbol=Symbol(str(row["symbol"])),
        qty=dec(row["positionAmt"]),
        entry_price=dec(row["entryPrice"]),
        mark_price=dec(row["markPrice"]),
        unrealized_pnl=dec(row["unRealizedProfit"]),
        liquidation_price=dec_or_none(row.get("liquidationPrice")),
        leverage=leverage,
        margin=isolated if isolated != 0 else initial,
    )


def positions(rows: Iterable[Mapping[str, Any]]) -> list[Position]:
    """Open positions only (Binance lists flat symbols with positionAmt 0)."""
    return [p for p in (position(r) for r in rows) if p.qty != 0]


def funding_now(row: Mapping[str, Any]) -> FundingRate:
    """``GET /fapi/v1/premiumIndex``: the rate that settles at ``nextFundingTime``."""
    return FundingRate(
        symbol=Symbol(str(row["symbol"])),
        rate=dec(row["lastFundingRate"]),
        funding_time=int(row["nextFundingTime"]),
        mark_price=dec_or_none(row.get("markPrice")),
    )


def funding_past(row: Mapping[str, Any]) -> FundingRate:
    """``GET /fapi/v1/fundingRate``: one settled rate."""
    return FundingRate(
        symbol=Symbol(str(row["symbol"])),
        rate=dec(row["fundingRate"]),
        funding_time=int(row["fundingTime"]),
        mark_price=dec_or_none(row.get("markPrice")),
    )
