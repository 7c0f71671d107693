"""The writer interface on chdb and on clickhouse-server 18.16: exact round trips, idempotent
re-inserts, clear errors."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from sinks.clickhouse.backend import ClickHouseBackend, ClickHouseError
from sinks.clickhouse.dialect import dialect_of
from sinks.clickhouse.schema import columnar, load_schema

Rows = Callable[..., list[dict[str, Any]]]


def _insert_fills(conn: ClickHouseBackend, rows: list[dict[str, Any]], token: str | None) -> int:
    schema = load_schema(conn, "fills")
    values = [schema.row_values(r) for r in rows]
    return conn.insert("fills", schema.columns, columnar(values, len(schema.columns)), token)


def test_round_trip_is_exact(backend: ClickHouseBackend, unique_name: str, fill_rows: Rows) -> None:
    rows = fill_rows(unique_name, 5)
    rows[0]["price"] = Decimal("12345678901234567890123456.123456789012")  # all 38 digits
    assert _insert_fills(backend, rows, None) == 5

    got = backend.query(
        "SELECT trade_id, price, fee, top3_ask_qty, is_maker, ts, slippage_bps FROM fills "
        f"WHERE symbol = '{unique_name}' ORDER BY ts"
    )
    assert got.columns == ["trade_id", "price", "fee", "top3_ask_qty", "is_maker", "ts", "slippage_bps"]
    assert got.rows[0][1] == Decimal("12345678901234567890123456.123456789012")
    for row, want in zip(got.rows, rows, strict=True):
        assert row[0] == want["trade_id"]
        assert row[2] == Decimal("0.025649240001")
        assert row[3] == [Decimal("0.7"), Decimal("2"), Decimal("0.01")]
        assert (row[4], row[5], row[6]) == (want["is_maker"], want["ts"], 0.0078)

    # price * qty in SQL is exact (scale 24) on both engines; the 38-digit price is left out
    notional = backend.query(
        f"SELECT sum(qty * price) FROM fills WHERE symbol = '{unique_name}' AND trade_id != 'T0'"
    ).rows[0][0]
    assert notional == sum(r["qty"] * r["price"] for r in rows[1:])


def test_same_batch_twice_leaves_no_duplicate(
    backend: ClickHouseBackend, unique_name: str, fill_rows: Rows
) -> None:
    rows = fill_rows(unique_name, 100)
    _insert_fills(backend, rows, f"fills:{unique_name}:0-99")
    _insert_fills(backend, rows, f"fills:{unique_name}:0-99")  # the crash-and-retry write

    where = f"WHERE symbol = '{unique_name}'"
    assert backend.query(f"SELECT count() FROM fills FINAL {where}").rows[0][0] == 100
    plain = backend.query(f"SELECT count() FROM fills {where}").rows[0][0]
    if dialect_of(backend).dedup_token:
        assert plain == 100  # the engine dropped the second block by its token
    else:
        assert plain in (100, 200)  # 18.16: collapsed only by ReplacingMergeTree (FINAL / merges)


def test_orders_latest_view_gives_newest_version(backend: ClickHouseBackend, unique_name: str) -> None:
    base = {
        "client_order_id": f"c-{unique_name}", "intent_id": "i1", "signal_id": "s1",
        "exchange_order_id": "", "symbol": unique_name, "market": "FUT", "side": "BUY",
        "order_type": "LIMIT", "time_in_force": "GTC", "reduce_only": 0, "price": Decimal("100.5"),
        "stop_price": Decimal(0), "qty": Decimal("2"), "avg_price": Decimal(0), "reason": "",
    }  # fmt: skip
    states = [("NEW", "0"), ("PARTIALLY_FILLED", "0.5"), ("FILLED", "2")]
    schema = load_schema(backend, "orders")
    rows = [
        schema.row_values({**base, "version": v, "status": s, "filled_qty": Decimal(q), "ts": 1_000 + v})
        for v, (s, q) in enumerate(states, start=1)
    ]
    backend.insert("orders", schema.columns, columnar(rows + rows[:2], len(schema.columns)))

    latest = backend.query(f"SELECT status, filled_qty FROM orders_latest WHERE symbol = '{unique_name}'")
    assert latest.rows == [("FILLED", Decimal("2"))]
    history = backend.query(f"SELECT count() FROM orders FINAL WHERE symbol = '{unique_name}'")
    assert history.rows[0][0] == 3  # one row per state change, the re-sent two collapsed


def test_unknown_table_and_column_are_named(backend: ClickHouseBackend) -> None:
    with pytest.raises(ClickHouseError, match=r"no_such_table does not exist"):
        backend.insert("no_such_table", ["a"], [[1]])
    with pytest.raises(ClickHouseError, match=r"fills.*unknown column 'bogus'"):
        backend.insert("fills", ["bogus"], [[1]])


def test_bad_sql_raises_with_the_engine_message(backend: ClickHouseBackend) -> None:
    with pytest.raises(ClickHouseError, match=r"(?i)unknown|missing"):
        backend.query("SELECT no_such_column FROM fills")
