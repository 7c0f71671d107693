"""The router's record on real ClickHouse (chdb in-process, and clickhouse-server): every order
state change in ``orders``, every fill in ``fills`` with the mid and top-3 book at send and its
slippage in bps (signed against us), strategy events — written through the batching sink."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from router_kit import D, between, cancel, coid, fut_bar_ticks, intent, make_desk, spot_events, until

from agents.router.records import SinkRecords, fill_rows, order_row
from chimera.model import Market, OrderStatus, OrderType, Side, TestClock
from sinks.clickhouse.backend import ClickHouseBackend
from sinks.clickhouse.chdb_backend import ChdbBackend
from sinks.clickhouse.migrate import migrate
from sinks.clickhouse.server_backend import ServerBackend
from sinks.clickhouse.sink import BatchingSink
from sinks.redis import Keyspace, RedisClient
from topics.trading import BookTop, Fill, OrderResult


@pytest.fixture(params=["chdb", pytest.param("server", marks=pytest.mark.clickhouse)])
def backend(request: pytest.FixtureRequest, router_chdb: ChdbBackend) -> Iterator[ClickHouseBackend]:
    if request.param == "chdb":
        yield router_chdb
        return
    conn = ServerBackend(request.getfixturevalue("clickhouse_url"), f"t_router_{uuid.uuid4().hex[:10]}")
    migrate(conn)
    yield conn
    conn.execute(f"DROP DATABASE IF EXISTS {conn.database}")
    conn.close()


def signed_bps(side: str, price: D, mid: D) -> float:
    return float((1 if side == "BUY" else -1) * (price - mid) / mid * 10_000)


async def test_every_fill_is_stored_with_mid_book_and_slippage(
    backend: ClickHouseBackend, redis1: RedisClient, ks1: Keyspace
) -> None:
    run = uuid.uuid4().hex[:6]  # this test's ids (the chdb database is shared by the session)
    ev = spot_events()
    bars = fut_bar_ticks(1)
    desk = await make_desk(redis1, ks1)
    sink = BatchingSink(backend, desk.venue, batch_rows=10_000, flush_ms=10**12)
    desk.router.records = SinkRecords(sink)

    # SPOT: maker→taker timing out (five orders, a taker fill), a market buy walking past the top
    # level (two fills), and a sell; FUT: a market buy on bar data (no book: mid is the last trade)
    t0 = 1610064007367
    await desk.feed_all(until(ev, t0))
    await desk.submit(
        intent(
            intent_id=f"i-mt-{run}",
            market="SPOT",
            exec="maker_taker",
            qty="0.001",
            maker_wait_ms=1_000,
            ts=t0,
        )
    )
    await desk.feed_all(between(ev, t0, 1610064009060))
    await desk.submit(intent(intent_id=f"i-walk-{run}", market="SPOT", qty="1.5", ts=1610064009060))
    await desk.submit(
        intent(intent_id=f"i-sell-{run}", market="SPOT", side="SELL", qty="0.02", ts=1610064009060)
    )
    await desk.feed(bars[0])
    await desk.submit(intent(intent_id=f"i-fut-{run}", qty="0.01", ts=bars[0].ts))
    await desk.submit(
        intent(
            intent_id=f"i-legs-{run}",
            exec="sl_tp",
            side="SELL",
            reduce_only=True,
            qty="0.01",
            sl_price="46000.0",
            ts=bars[0].ts,
            source="positions",
        )
    )
    await desk.submit(cancel(intent_id=f"c-legs-{run}", target_intent_id=f"i-legs-{run}", ts=bars[0].ts + 1))
    sink.flush()
    assert sink.dead_letters == []

    ids = ", ".join(f"'{i}-{run}'" for i in ("i-mt", "i-walk", "i-sell", "i-fut", "i-legs"))
    fills = backend.query(
        "SELECT trade_id, client_order_id, side, price, qty, fee, is_maker, mid_at_send, top3_bid_px, "
        "top3_ask_px, top3_ask_qty, slippage_bps, ts "
        f"FROM fills FINAL WHERE intent_id IN ({ids}) ORDER BY ts, trade_id"
    ).rows
    expected = [(f, r) for r in desk.results for f in r.fills]
    assert len(fills) == len(expected) == 5  # taker 1 + walk 2 + sell 1 + fut 1
    by_trade = {(row[0], row[1]): row for row in fills}  # trade ids count per instrument
    for f, r in expected:
        row = by_trade[f.trade_id, r.client_order_id]
        assert row[1:8] == (
            r.client_order_id,
            r.side.value,
            f.price,
            f.qty,
            f.fee,
            int(f.is_maker),
            r.mid_at_send,
        )
        assert row[7] is not None and row[7] > 0
        assert row[11] == pytest.approx(signed_bps(row[2], row[3], row[7]), abs=1e-9)
        assert row[11] == pytest.approx(f.slippage_bps)
        book = r.book_at_send
        assert (row[8], row[9], row[10]) == (
            (book.bid_px, book.ask_px, book.ask_qty) if book else ([], [], [])
        )

    walk = [
        by_trade[f.trade_id, r.client_order_id]
        for f, r in expected
        if r.client_order_id == coid(f"i-walk-{run}", 0)
    ]
    # the 9060 quote: 39486.56 for 1.2031 BTC, the rest 5 bps above; mid 39486.555
    assert [(w[3], w[4]) for w in walk] == [(D("39486.56"), D("1.2031")), (D("39506.31"), D("0.2969"))]
    assert walk[0][7] == D("39486.555")
    assert walk[1][11] == pytest.approx((39506.31 - 39486.555) / 39486.555 * 1e4)  # paid ~5 bps more
    sell = by_trade[next((f.trade_id, r.client_order_id) for f, r in expected if r.side is Side.SELL)]
    assert sell[11] == pytest.approx(signed_bps("SELL", sell[3], sell[7]))
    fut = by_trade[next((f.trade_id, r.client_order_id) for f, r in expected if r.market.value == "FUT")]
    assert (fut[7], fut[8], fut[9]) == (D("46319.0"), [], [])  # bar data: no book, mid = last trade

    orders = backend.query(
        f"SELECT client_order_id, version, status FROM orders FINAL WHERE intent_id IN ({ids}) "
        "ORDER BY client_order_id, version"
    ).rows
    assert sorted(orders) == sorted({(r.client_order_id, r.version, r.status.value) for r in desk.results})
    assert len({c for c, _, _ in orders}) == 9  # 4 makers + taker + walk + sell + fut + the sl leg
    latest = dict(
        backend.query(f"SELECT client_order_id, status FROM orders_latest WHERE intent_id IN ({ids})").rows
    )
    assert latest[coid(f"i-mt-{run}", "t")] == "FILLED" and latest[coid(f"i-mt-{run}", "m3")] == "CANCELED"
    assert latest[coid(f"i-legs-{run}", "sl")] == "CANCELED"

    kinds = backend.query(
        f"SELECT kind, intent_id FROM strategy_events FINAL WHERE intent_id = 'i-legs-{run}' ORDER BY kind"
    ).rows
    assert kinds == [("CANCEL", f"i-legs-{run}"), ("TP_SL_PLACED", f"i-legs-{run}")]


def test_measured_prices_with_float_noise_are_held_at_the_columns_scale(backend: ClickHouseBackend) -> None:
    """The mid, book and average an order was measured against carry a recording's float noise
    (16 places on XRP) and an average of two trades runs to 28 digits: the row builders hold them
    at 12 places, the rows are written (none refused) and read back as built."""
    run = uuid.uuid4().hex[:6]
    noisy = D("1.0937000000000001")
    fills = [
        Fill(trade_id=f"t1-{run}", price=D("1.0937"), qty=D("100"), fee=D("0.04374800"),
             fee_asset="USDT", is_maker=False, ts=1),
        Fill(trade_id=f"t2-{run}", price=D("1.0938"), qty=D("200"), fee=D("0.08750400"),
             fee_asset="USDT", is_maker=False, ts=1),
    ]  # fmt: skip
    avg = (D("1.0937") * 100 + D("1.0938") * 200) / 300  # 1.093766666666666666666666667
    r = OrderResult(
        intent_id=f"i-noisy-{run}",
        client_order_id=coid(f"i-noisy-{run}", 0),
        version=2,
        symbol="XRPUSDT",
        market=Market.FUT,
        status=OrderStatus.FILLED,
        side=Side.BUY,
        type=OrderType.MARKET,
        qty=D("300"),
        filled_qty=D("300"),
        avg_price=avg,
        fee=D("0.13125200"),
        fee_asset="USDT",
        fills=fills,
        mid_at_send=noisy,
        book_at_send=BookTop(
            bid_px=[noisy, D("1.0936")],
            bid_qty=[D("5000.0000000000001"), D("7")],
            ask_px=[D("1.0937999999999999"), D("1.0939")],
            ask_qty=[D("10"), D("20")],
        ),
        ts=1,
    )
    sink = BatchingSink(backend, TestClock(0), batch_rows=10_000, flush_ms=10**12)
    records = SinkRecords(sink)
    order, rows = order_row(r), fill_rows(r)
    records.add("orders", order)
    for row in rows:
        records.add("fills", row)
    sink.flush()
    assert sink.take_dead_letters() == []
    [got_avg] = backend.query(
        f"SELECT toString(avg_price) FROM orders FINAL WHERE intent_id = 'i-noisy-{run}'"
    ).rows[0]
    assert D(got_avg) == order["avg_price"] == D("1.093766666667")
    got = backend.query(
        "SELECT toString(mid_at_send), arrayMap(x -> toString(x), top3_bid_px), "
        "arrayMap(x -> toString(x), top3_bid_qty), arrayMap(x -> toString(x), top3_ask_px), "
        f"toString(price) FROM fills FINAL WHERE intent_id = 'i-noisy-{run}' ORDER BY trade_id"
    ).rows
    assert [D(g[0]) for g in got] == [row["mid_at_send"] for row in rows] == [D("1.0937")] * 2
    assert [D(x) for x in got[0][1]] == rows[0]["top3_bid_px"] == [D("1.0937"), D("1.0936")]
    assert [D(x) for x in got[0][2]] == [D("5000"), D("7")]
    assert [D(x) for x in got[0][3]] == [D("1.0938"), D("1.0939")]
    assert [D(g[4]) for g in got] == [D("1.0937"), D("1.0938")]  # the trades' own prices, as given
