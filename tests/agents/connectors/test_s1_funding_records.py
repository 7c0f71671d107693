"""Funding actually paid → ``funding_records`` on chdb and on clickhouse-server 18.16.

SimVenue holds an open XRP perpetual position while the real XRP files (5m candles, 8h mark,
8h funding rates) play through it; its FundingPayments become rows through the batching sink.
The rows equal the payments exactly, their sum is the wallet's change from funding, and
writing them again (a restart, or other batch boundaries) adds no row.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from decimal import ROUND_HALF_EVEN
from decimal import Decimal as D
from pathlib import Path

import pytest

from agents.connectors.port import OrderRequest
from agents.connectors.recordings import load_file, load_files
from agents.connectors.service.funding_records import payment_row, record_payments
from agents.connectors.simvenue import FundingPayment, SimExchange, SimVenueConfig
from agents.connectors.simvenue.feed import apply
from chimera.model import ClientOrderId, Market, OrderType, Side, Symbol, TestClock
from sinks.clickhouse.backend import ClickHouseBackend
from sinks.clickhouse.chdb_backend import ChdbBackend, current_store
from sinks.clickhouse.migrate import migrate
from sinks.clickhouse.server_backend import ServerBackend
from sinks.clickhouse.sink import BatchingSink
from topics.market import FundingEvent

DATA = Path(__file__).resolve().parents[3] / "data" / "freqtrade"
XRP_FILES = [
    DATA / "XRP_USDT_USDT-5m-futures.feather",
    DATA / "XRP_USDT_USDT-8h-mark.feather",
    DATA / "XRP_USDT_USDT-8h-funding_rate.feather",
]
XRP = Symbol("XRPUSDT")
FUT = Market.FUT
COLUMNS = "symbol, funding_time, rate, position_qty, mark_price, amount_usdt, ts"


XRP_PERP = {"symbol": XRP, "market": "FUT", "base": "XRP", "tick_size": "0.0001", "lot_size": "0.1",
            "min_qty": "0.1", "min_notional": "5"}  # fmt: skip


def _exchange() -> SimExchange:
    # 1x leverage: the month's 33 % fall cannot liquidate the long
    # the recording stamps each rate 7-17 ms after its settlement: wait for it
    config = SimVenueConfig(
        instruments=[XRP_PERP],
        initial_balances={"FUT": {"USDT": "10000"}},
        leverage={XRP: 1},
        funding_rate_grace_ms=60_000,
    )
    return SimExchange(config)


def funding_month() -> tuple[list[FundingPayment], D]:
    """Open a 1,000 XRP long on the first candle, play the files; the payments and the change of
    the FUT wallet's free USDT from just after the fill to the end (funding is all that moves it)."""
    ex = _exchange()
    records = iter(load_files(XRP_FILES))
    apply(ex, next(records))
    buy = OrderRequest(
        symbol=XRP, market=FUT, side=Side.BUY, type=OrderType.MARKET, qty=D("1000"),
        client_order_id=ClientOrderId("s1-funding-long"),
    )  # fmt: skip
    ex.submit(buy)
    [pos] = ex.positions()
    assert pos.qty == D("1000")
    before = ex.balances(FUT)["USDT"].free
    payments = [e for r in records for e in apply(ex, r) if isinstance(e, FundingPayment)]
    assert ex.positions()[0].qty == D("1000")  # still open: no fill, no liquidation moved the wallet
    return payments, ex.balances(FUT)["USDT"].free - before


@pytest.fixture(scope="module")
def month() -> tuple[list[FundingPayment], D]:
    return funding_month()


@pytest.fixture(scope="session")
def funding_databases(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[[str], ClickHouseBackend]]:
    """One migrated database per backend for the session, opened on first use."""
    opened: dict[str, ClickHouseBackend] = {}

    def get(kind: str) -> ClickHouseBackend:
        if kind not in opened:
            db = f"t_s1_funding_{uuid.uuid4().hex[:10]}"
            if kind == "chdb":
                conn: ClickHouseBackend = ChdbBackend(current_store() or tmp_path_factory.mktemp("chdb"), db)
            else:
                conn = ServerBackend(request.getfixturevalue("clickhouse_url"), db)
            migrate(conn)
            opened[kind] = conn
        return opened[kind]

    yield get
    for conn in opened.values():
        conn.execute(f"DROP DATABASE IF EXISTS {conn.database}")
        conn.close()


@pytest.fixture(params=["chdb", pytest.param("server", marks=pytest.mark.clickhouse)])
def backend(
    request: pytest.FixtureRequest, funding_databases: Callable[[str], ClickHouseBackend]
) -> ClickHouseBackend:
    conn = funding_databases(request.param)
    conn.execute("TRUNCATE TABLE funding_records")
    return conn


def test_a_month_of_funding_on_an_open_long(month: tuple[list[FundingPayment], D]) -> None:
    payments, wallet_change = month
    # every 8 h settlement from the first published rate (Nov 18 00:00: stamped 17 ms after its own
    # settlement, which waits for it) to the last rate (Dec 18 00:00)
    assert len(payments) == 91 and len({p.funding_time for p in payments}) == 91
    assert payments[0].funding_time == 1_637_193_600_000 and payments[-1].funding_time == 1_639_785_600_000
    assert all(p.funding_time % (8 * 3_600_000) == 0 and p.position_qty == D("1000") for p in payments)
    # each at the recorded rate and the mark at its instant (the -8h-mark candle opening then),
    # rounded to the venue's 8 places: the wallet moved by exactly their sum
    events = [f for f in load_file(XRP_FILES[2]) if isinstance(f, FundingEvent)]
    assert all(f.mark_price is not None for f in events)
    want = [(-D(1000) * f.mark_price * f.rate).quantize(D("1e-8"), ROUND_HALF_EVEN) for f in events]  # type: ignore[operator]
    assert [p.amount for p in payments] == want
    assert sum((p.amount for p in payments), D(0)) == wallet_change == sum(want, D(0)) != 0
    first = payments[0]
    assert first.amount == -(
        first.position_qty * first.mark_price * first.rate
    )  # a long pays a positive rate
    assert any(p.amount > 0 for p in payments)  # and receives a negative one


def test_a_settlement_pays_the_rate_recorded_for_it(month: tuple[list[FundingPayment], D]) -> None:
    payments, _ = month
    recorded = {f.funding_time: f.rate for f in load_file(XRP_FILES[2]) if isinstance(f, FundingEvent)}
    assert [p.rate for p in payments] == [recorded[p.funding_time] for p in payments]


def test_rows_are_the_payments_with_rate_and_mark_at_the_column_scale(
    month: tuple[list[FundingPayment], D],
) -> None:
    payments, _ = month

    def places(d: D) -> int:
        return -int(d.as_tuple().exponent)

    # the float noise of freqtrade's files, which Decimal(38, 12) cannot hold
    marks = [f.mark_price for f in load_file(XRP_FILES[2]) if isinstance(f, FundingEvent) and f.mark_price]
    noisy = sum(places(m) > 12 for m in marks)
    assert sum(places(p.mark_price) > 12 for p in payments) == noisy > 10
    assert [p.rate for p in payments if places(p.rate) > 12] == [D("-0.0021933400000000002")]
    for p in payments:
        row = payment_row(p)
        assert (row["symbol"], row["funding_time"], row["ts"]) == (p.symbol, p.funding_time, p.funding_time)
        assert (row["position_qty"], row["amount_usdt"]) == (p.position_qty, p.amount)  # exact, always
        for name, value in (("rate", p.rate), ("mark_price", p.mark_price)):
            assert row[name] == value if places(value) <= 12 else abs(row[name] - value) < D("1e-12")


def _rows(backend: ClickHouseBackend, final: bool = True) -> list[tuple[object, ...]]:
    sql = f"SELECT {COLUMNS} FROM funding_records {'FINAL' if final else ''} ORDER BY symbol, funding_time"
    return backend.query(sql).rows


def _sum(backend: ClickHouseBackend) -> object:
    [(total,)] = backend.query("SELECT sum(amount_usdt) FROM funding_records FINAL").rows
    return total


def test_payments_land_exactly_and_twice_written_is_once(
    backend: ClickHouseBackend, month: tuple[list[FundingPayment], D]
) -> None:
    payments, wallet_change = month
    expected = [tuple(payment_row(p).values()) for p in payments]
    clock = TestClock(payments[-1].funding_time)

    done = record_payments(BatchingSink(backend, clock), payments)
    assert (done.rows, done.dead_letters) == (91, [])
    assert done.offsets == {("simvenue.funding", 0): payments[-1].funding_time}
    assert _rows(backend) == expected  # Decimal for Decimal: nothing rounded on the way
    assert _sum(backend) == wallet_change

    # a restart writes them again: the same batch with the same insert token
    record_payments(BatchingSink(backend, clock), payments)
    if backend.name == "chdb":  # ClickHouse 26.9: the token drops it at once, no FINAL needed
        assert _rows(backend, final=False) == expected
    # other batch boundaries, other tokens: ReplacingMergeTree on (symbol, funding_time) folds them
    assert record_payments(BatchingSink(backend, clock, batch_rows=7), payments).rows == 91
    assert _rows(backend) == expected and _sum(backend) == wallet_change
    backend.execute("OPTIMIZE TABLE funding_records FINAL")
    assert _rows(backend, final=False) == expected
