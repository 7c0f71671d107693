"""S6 end to end on SimVenue with real prices: the NautilusTrader BTC perpetual month (1-minute
bars -> 4 ticks each), fed in event time; S6's intents go to the venue as plain orders and the
venue's order updates come back as OrderResults (``paper_desk``). Taker fee 0.0004, market
orders slip 0.05% (no book), funding 0.01% every 8 h, leverage 10.

Checked at every hop: once its stop rested, the position always has a reduce-only STOP_MARKET at
the venue, and in S6's state a LIVE stop (the Driver). At the end: S6's realised PnL equals an
independent recomputation from the venue's fills and funding payments, and the venue wallet.
"""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from typing import Any

import pytest
from paper_desk import PaperDesk, bars, make_exchange
from positions_kit import BTC, FUT_BTC, D, Driver, events_of, make_config

from agents.positions.context import Ctx
from agents.positions.events import SendIntent, Snapshot
from chimera.model import Market, Side, Symbol, round_to_step
from topics.trading import OrderIntent

JAN1 = 1_640_995_200_000  # 2022-01-01 00:00 UTC
DEC31_23 = JAN1 - 3_600_000
JAN3_12 = JAN1 + 2 * 86_400_000 + 12 * 3_600_000
WALLET = D("10000")


async def run(side: Side, start_ms: int, **cfg: Any) -> tuple[Driver, PaperDesk]:
    """Enter ``side`` 0.050 BTC at market after the first bar from ``start_ms``; run bars until
    the position is closed (a day at most)."""
    d = Driver(Ctx(make_config(**cfg), FUT_BTC))

    async def s6(event: Any) -> list[Any]:
        return [e.intent for e in d(event) if isinstance(e, SendIntent)]

    desk = PaperDesk(make_exchange(), s6)
    ticks = bars(start_ms, start_ms + 86_400_000)
    desk.publish_funding(start_ms, start_ms + 86_400_000)
    for tick in ticks[:4]:
        await desk.market(tick)
    await desk.enter(side, "0.050")
    n = await desk.run_bars(ticks[4:], until=lambda: not d.pos.is_open)
    assert n < len(ticks) - 4, "the position did not close within the day"
    return d, desk


def recomputed_cash(desk: PaperDesk) -> Decimal:
    """What the venue's fills and funding payments did to the wallet, summed from scratch."""
    trades = sum((-r.side.sign * f.price * f.qty - f.fee for r in desk.results for f in r.fills), Decimal(0))
    return trades + sum((p.amount for p in desk.funding), Decimal(0))


def placed(desk: PaperDesk, reason: str) -> list[OrderIntent]:
    return [i for i in desk.intents if isinstance(i, OrderIntent) and i.reason == reason]


def _assert_books_balance(d: Driver, desk: PaperDesk) -> None:
    exit_event = events_of(d.effects)[-1]
    assert exit_event.kind == "EXIT"
    assert exit_event.realized_pnl == recomputed_cash(desk)
    bal = desk.ex.balances(Market.FUT)["USDT"]
    assert bal.free + bal.locked - WALLET == exit_event.realized_pnl
    assert desk.ex.positions() == []
    assert [o for o in desk.ex.open_orders(Market.FUT) if o.type.name == "STOP_MARKET"] == []


async def test_long_new_years_day_add_trail_take_profit_and_trailed_exit() -> None:
    d, desk = await run(Side.BUY, DEC31_23)
    got = [
        (e.kind, e.qty, e.fill_price, e.entry_price, e.sl_price, e.tp_level, e.adds, e.reason)
        for e in events_of(d.effects)
    ]
    assert got == [
        # first bar's close 46377.0 + 0.05% slippage, up to the tick
        ("OPEN", D("0.050"), D("46400.2"), D("46400.2"), None, 0, 0, "ENTRY"),
        # ROE 4% reached at 02:59: add half the entry; average (2320.01 + 1165.5825) / 0.075
        ("ADD", D("0.075"), D("46623.3"), D("46474.56666667"), D("46028.9"), 0, 1, "ADD_ON"),
        # ROE 8% from the average: 25% of 0.075 = 0.01875 -> 0.018 on the lot grid
        ("PARTIAL_EXIT", D("0.057"), D("46872.5"), D("46474.56666667"), D("46521.0"), 1, 1, "TP_1"),
        # the step-2 stop (ROE 5% locked) fires on the way down, slipping to 46596.6
        ("EXIT", D("0.000"), D("46596.6"), D("46474.56666667"), D("46706.9"), 1, 1, "SL_TRAIL"),
    ]
    avg = D("3485.5925") / D("0.075")
    # the trailing stops, from the average entry: ROE lock 1% then 5%, rounded down to 0.1
    assert (
        [i.sl_price for i in placed(desk, "SL_TRAIL")]
        == [
            round_to_step(avg * (1 + D("0.01") / 10), D("0.1")),
            round_to_step(avg * (1 + D("0.05") / 10), D("0.1")),
        ]
        == [D("46521.0"), D("46706.9")]
    )
    assert [(i.qty, i.sl_price) for i in placed(desk, "SL_RESIZE")] == [(D("0.075"), D("46028.9"))]
    assert [i.qty for i in placed(desk, "TP_1")] == [D("0.018")]
    # funding at 00:00 on 0.050 at 46224.0 x 0.0001; the exit's PnL is net of it and of the fees
    assert [(p.position_qty, p.amount) for p in desk.funding] == [(D("0.050"), D("-0.23112000"))]
    exit_event = events_of(d.effects)[-1]
    assert (exit_event.realized_pnl, exit_event.funding_paid, exit_event.fees_paid) == (
        D("11.09345852"), D("0.23112"), D("2.79412148"),
    )  # fmt: skip
    _assert_books_balance(d, desk)
    # the stop covered all of the position except while the add's resize was on its way
    assert desk.armed is False and desk.min_cover == D("0.050") / D("0.075")
    assert desk.hops > 2_000


async def test_short_january_third_add_then_locked_stop_slips_through() -> None:
    d, desk = await run(Side.SELL, JAN3_12)
    got = [(e.kind, e.qty, e.fill_price, e.entry_price, e.sl_price, e.reason) for e in events_of(d.effects)]
    assert got == [
        ("OPEN", D("0.050"), D("47352.3"), D("47352.3"), None, "ENTRY"),
        ("ADD", D("0.075"), D("47122.4"), D("47275.66666667"), D("47731.2"), "ADD_ON"),
        # the stop locked ROE 1% below the average (47228.4) but the bar gapped through it
        ("EXIT", D("0.000"), D("47313.7"), D("47275.66666667"), D("47228.4"), "SL_TRAIL"),
    ]
    initial = round_to_step(D("47352.3") * (1 + D("0.08") / 10), D("0.1"), "up")
    assert placed(desk, "SL")[0].sl_price == initial == D("47731.2")
    assert placed(desk, "SL_TRAIL")[0].side is Side.BUY
    assert events_of(d.effects)[-1].realized_pnl == D("-5.690181")
    _assert_books_balance(d, desk)


async def test_rally_to_the_resting_target_closes_the_rest() -> None:
    cfg = {
        "initial_sl_roe": "0.15",
        "trail": [{"trigger": "0.10", "lock": "0.02"}, {"trigger": "0.20", "lock": "0.10"}],
        "tp": [{"trigger": "0.08", "fraction": "0.3"}, {"trigger": "0.25", "fraction": "0.7"}],
        "add_on": {"max_adds": 0},
    }
    d, desk = await run(Side.BUY, DEC31_23, **cfg)
    [target] = placed(desk, "TP_2")
    # ROE 25% from 46400.2: x 1.025 = 47560.205 -> up 47560.3; ordered for all 0.050, reduce-only
    assert (target.tp_price, target.qty, target.reduce_only) == (D("47560.3"), D("0.050"), True)
    got = [(e.kind, e.qty, e.fill_qty, e.fill_price, e.tp_level, e.reason) for e in events_of(d.effects)]
    assert got == [
        ("OPEN", D("0.050"), D("0.050"), D("46400.2"), 0, "ENTRY"),
        ("PARTIAL_EXIT", D("0.035"), D("0.015"), D("46754.6"), 1, "TP_1"),  # 30% of 0.050
        ("EXIT", D("0.000"), D("0.035"), D("47546.2"), 2, "TP_2"),  # what was left, at the venue
    ]
    assert events_of(d.effects)[-1].realized_pnl == D("43.3207016")
    _assert_books_balance(d, desk)


async def test_the_same_bars_give_the_same_orders_events_and_rows() -> None:
    def record(d: Driver) -> list[bytes | str]:
        out: list[bytes | str] = []
        for e in d.effects:
            if isinstance(e, SendIntent):
                out.append(e.intent.encode())
            elif isinstance(e, Snapshot):
                out.append(repr(sorted(e.row.items())))
        return out + [e.encode() for e in events_of(d.effects)]

    first, _ = await run(Side.SELL, JAN3_12)
    second, _ = await run(Side.SELL, JAN3_12)
    assert record(first) == record(second)
    assert first.book == second.book


@pytest.mark.parametrize("side", [Side.BUY, Side.SELL])
async def test_snapshot_rows_follow_the_position(side: Side) -> None:
    d, _ = await run(side, JAN3_12 if side is Side.SELL else DEC31_23)
    rows = [e.row for e in d.effects if isinstance(e, Snapshot)]
    assert [r["seq"] for r in rows] == list(range(len(rows)))
    assert rows[-1]["status"] == "CLOSED" and rows[-1]["qty"] == 0
    assert all(r["status"] == "OPEN" for r in rows[:-1])
    assert rows[-1]["realized_pnl"] == events_of(d.effects)[-1].realized_pnl


async def test_three_days_of_alternating_entries_keep_every_invariant_and_the_books() -> None:
    """Enter 40 ticks after each close, alternating sides, with a stagnation time stop; every hop
    is checked. The wallet moves by exactly the sum of every position's realised PnL (the last
    snapshot of each, so funding after its last event counts), funding equals the venue's."""
    cfg = make_config(stagnation={"after_ms": 6 * 3_600_000, "max_abs_roe": "0.03", "exit": True})
    d = Driver(Ctx(cfg, FUT_BTC))

    async def s6(event: Any) -> list[Any]:
        return [e.intent for e in d(event) if isinstance(e, SendIntent)]

    desk = PaperDesk(make_exchange(), s6)
    days = 3 * 86_400_000
    desk.publish_funding(DEC31_23, DEC31_23 + days)
    side, entries, idle = Side.BUY, 0, 0
    for tick in bars(DEC31_23, DEC31_23 + days):
        await desk.market(tick)
        flat = desk.ex.book.qty(Symbol(BTC)) == 0 and not any(p.is_open for p in d.book.positions.values())
        idle = idle + 1 if flat else 0
        if idle >= 40:
            await desk.enter(side, "0.050", f"sig-soak-{entries}")
            side, entries, idle = side.opposite(), entries + 1, 0
    exits = [e for e in events_of(d.effects) if e.kind == "EXIT"]
    assert entries == 22 and len(exits) == 21
    assert Counter(e.reason for e in exits) == {"SL_TRAIL": 13, "SL": 6, "TIME_STOP": 2}
    last_rows = {e.row["pos_id"]: e.row for e in d.effects if isinstance(e, Snapshot)}
    assert len(last_rows) == entries
    bal = desk.ex.balances(Market.FUT)["USDT"]
    assert bal.free + bal.locked - WALLET == sum(r["realized_pnl"] for r in last_rows.values())
    assert -sum(r["funding_paid"] for r in last_rows.values()) == sum(p.amount for p in desk.funding)
    assert desk.hops > 30_000
