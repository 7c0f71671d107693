"""S6's positions_snapshots rows carry float noise from their sources (an entry filled at a price a
float passed through, so an average and a PnL of 28 digits; a mark from a recording) and still
fit the table: the row builder holds them at the column's 12 places, and clickhouse-server gives
back exactly what was built."""

from __future__ import annotations

from dataclasses import replace

import pytest
from positions_kit import BTC, FUT_BTC, T0, D, Driver, fill, make_config, result

from agents.positions.context import Ctx
from agents.positions.events import Snapshot, Tick
from agents.positions.intents import ENTRY_LEG
from chimera.model import OrderStatus, Side, SignalId, TestClock, intent_id_for, to_decimal
from sinks.clickhouse.scale import RECORD_STEP
from sinks.clickhouse.server_backend import ServerBackend
from sinks.clickhouse.sink import BatchingSink

pytestmark = pytest.mark.clickhouse

# an XRP-sized contract under the kit's symbol: prices near 1 keep 16 places through a float
SMALL = replace(FUT_BTC, tick_size=D("0.0001"), lot_size=D("1"), min_qty=D("1"), min_notional=D("5"))
NOISY_PX = 1 + to_decimal(0.1 + 0.2)  # 1.30000000000000004: float arithmetic's noise
NOISY_MARK = D("1.2938000000000001")  # 16 places, as the XRP files hold a close
SIGNAL = SignalId(f"sig-{BTC}-{T0}-noisy")  # its own position: the session's database is shared
ENTRY = intent_id_for(SIGNAL, ENTRY_LEG)


def places(value: D) -> int:
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)
    return -exponent


def test_a_position_with_a_noisy_average_price_is_written_and_read_back_exactly(
    ch_server: ServerBackend,
) -> None:
    d = Driver(Ctx(make_config(), SMALL))
    # the entry filled in two trades, one at a noisy price: the exact average runs to 28 digits
    fills = [fill("n1", "1.2937", "100", T0), fill("n2", str(NOISY_PX), "200", T0)]
    d(result(ENTRY, Side.BUY, OrderStatus.FILLED, ts=T0, fills=fills, signal_id=SIGNAL))
    d(Tick(BTC, T0 + 60_000, NOISY_MARK, mark=NOISY_MARK))
    pos = d.pos
    assert places(NOISY_PX) > 12 and places(NOISY_MARK) > 12 and places(pos.avg) > 12
    assert places(pos.unrealized(NOISY_MARK)) > 12  # what the table would refuse unrounded
    rows = [e.row for e in d.effects if isinstance(e, Snapshot)]
    assert len(rows) >= 2 and rows[-1]["mark_price"] != rows[0]["mark_price"]

    sink = BatchingSink(ch_server, TestClock(T0))
    for offset, row in enumerate(rows):
        sink.add(row, table="positions_snapshots", topic="pos.noisy", partition=0, offset=offset)
    sink.flush()
    assert sink.take_dead_letters() == []
    got = ch_server.query(
        "SELECT seq, toString(entry_price), toString(mark_price), toString(unrealized_pnl), "
        f"toString(realized_pnl) FROM positions_snapshots FINAL WHERE pos_id = '{pos.pos_id}' ORDER BY seq"
    ).rows
    cols = ("entry_price", "mark_price", "unrealized_pnl", "realized_pnl")
    assert [[D(v) for v in r[1:]] for r in got] == [[r[c] for c in cols] for r in rows]
    # what was built is the exact value rounded half-even to 12 places, nothing else
    cost = D("1.2937") * 100 + NOISY_PX * 200
    entry, mark, upnl = (D(v) for v in got[-1][1:4])
    assert entry == (cost / 300).quantize(D("1e-8")) == D("1.29790000")
    assert mark == NOISY_MARK.quantize(RECORD_STEP) == D("1.293800000000")
    assert upnl == (NOISY_MARK * 300 - cost).quantize(RECORD_STEP)
