"""The S6 shell on the real Redis (single node and the 3-master Cluster) and clickhouse-server:
the mirror keys follow the position, the close gives the entry gate back exactly what S3 reserved
(budget and concurrency to zero), rows fit positions_snapshots and treasury_transfers."""

from __future__ import annotations

import json
from dataclasses import replace
from decimal import Decimal
from typing import Any

from paper_desk import PaperDesk, bars, make_exchange
from positions_kit import BTC, ENTRY, FUT_BTC, T0, D, entry_fill, fill, make_config, result

from agents.connectors.port import Instrument
from agents.positions.config import PositionConfig
from agents.positions.events import Event, Tick
from agents.positions.intents import ENTRY_LEG, pos_id_for
from agents.positions.service import Outbox, PositionService
from agents.positions.state import SymbolBook
from chimera.model import OrderStatus, Side, Symbol, TestClock, intent_id_for
from sinks.clickhouse.server_backend import ServerBackend
from sinks.clickhouse.sink import BatchingSink
from sinks.redis import EntryGate, Keyspace, RedisClient

HOUR = 3_600_000
MARGIN = D("232.001")  # what S3 reserves for 0.050 at 46400.2, leverage 10


def service(
    client: RedisClient, ks: Keyspace, gate: EntryGate, cfg: PositionConfig, **inst: Instrument
) -> PositionService:
    return PositionService(cfg, inst or {BTC: FUT_BTC}, client, ks, gate, token="w1-s6")


class Shell:
    """The agent's part in a test: the table value per symbol, and everything the shell returned."""

    def __init__(self, svc: PositionService) -> None:
        self.svc = svc
        self.table: dict[str, dict[str, Any]] = {}
        self.outs: list[Outbox] = []

    async def __call__(self, event: Event) -> list[Any]:
        state, out = await self.svc.handle(self.table.get(event.symbol), event)
        self.table[event.symbol] = state
        self.outs.append(out)
        return out.intents

    def book(self, symbol: str = BTC) -> SymbolBook:
        return SymbolBook.from_json(self.table[symbol])


async def mirror(client: RedisClient, ks: Keyspace, pos_id: str) -> list[dict[str, Any] | None]:
    keys = (ks.pos_sl_level(pos_id), ks.pos_tp_ladder(pos_id), ks.pos_adds(pos_id))
    return [None if (v := await client.get(k)) is None else json.loads(v) for k in keys]


async def test_a_position_run_on_simvenue_keeps_redis_in_step_and_gives_the_gate_back(
    client: RedisClient, keyspace: Keyspace, gate: EntryGate, clock: TestClock
) -> None:
    granted = await gate.reserve(ENTRY, BTC, MARGIN, "1000", 1, 24 * HOUR)
    assert granted.granted
    assert (await gate.usage([BTC])).budget_inuse == MARGIN
    svc = service(client, keyspace, gate, make_config())
    await svc.load()
    shell = Shell(svc)
    pos_id = pos_id_for(ENTRY)
    seen_levels: list[str] = []

    async def s6(event: Event) -> list[Any]:
        intents = await shell(event)
        book = shell.book()
        if pos_id in book.positions and book.positions[pos_id].is_open:
            pos = book.positions[pos_id]
            sl, tp, adds = await mirror(client, keyspace, pos_id)
            assert sl is not None and tp is not None and adds is not None
            assert sl["price"] == (None if pos.sl_price is None else str(pos.sl_price))
            assert (tp["level"], adds["count"]) == (pos.tp_level, pos.adds)
            if sl["price"] and sl["price"] not in seen_levels:
                seen_levels.append(sl["price"])
        return intents

    start = T0
    desk = PaperDesk(make_exchange(), s6)
    ticks = bars(start, start + 86_400_000)
    desk.publish_funding(start, start + 86_400_000)
    for tick in ticks[:4]:
        await desk.market(tick)
    await desk.enter(Side.BUY, "0.050")
    await desk.run_bars(ticks[4:], until=lambda: not shell.book().positions[pos_id].is_open)
    # the stop's level as Redis showed it, step by step (the same run as the SimVenue test)
    assert seen_levels == ["46028.9", "46521.0", "46706.9"]
    released = [r for out in shell.outs for r in out.released]
    assert [(r.reservation_id, r.released, r.symbol, r.margin_usdt) for r in released] == [
        (ENTRY, True, BTC, MARGIN)
    ]
    usage = await gate.usage([BTC])
    assert (usage.budget_inuse, usage.concurrency) == (D(0), {BTC: 0})
    assert await mirror(client, keyspace, pos_id) == [None, None, None]
    # a second release (redelivery, or S5 as well) gives nothing back: never below zero
    again = await gate.release(ENTRY)
    assert (again.released, again.margin_usdt) == (False, D(0))
    assert (await gate.usage([BTC])).budget_inuse == D(0)
    assert await client.get(keyspace.lock_pos(pos_id)) is None  # the lock was let go


async def test_many_positions_closing_return_budget_and_slots_to_exactly_zero(
    client: RedisClient, keyspace: Keyspace, gate: EntryGate
) -> None:
    symbols = [f"P{i}USDT" for i in range(6)]
    insts = {s: replace(FUT_BTC, symbol=Symbol(s)) for s in symbols}
    cfg = make_config(add_on={"max_adds": 0})
    svc = service(client, keyspace, gate, cfg, **insts)
    await svc.load()
    shell = Shell(svc)
    margins = {s: D("100.000001") * (i + 1) for i, s in enumerate(symbols)}  # micro-USDT amounts
    entries = {s: intent_id_for(f"sig-{s}", ENTRY_LEG) for s in symbols}
    for s in symbols:
        assert (await gate.reserve(entries[s], s, margins[s], "10000", 1, 24 * HOUR)).granted
    assert (await gate.usage(symbols)).budget_inuse == sum(margins.values())
    stops: dict[str, Any] = {}
    for i, s in enumerate(symbols):
        r = result(
            entries[s],
            Side.BUY,
            OrderStatus.FILLED,
            ts=T0 + i,
            fills=[fill(f"e{s}", "46400.2", "0.050", T0 + i)],
            signal_id=f"sig-{s}",
        )
        r = r.model_copy(update={"symbol": s})
        stops[s] = (await shell(r))[0]
    closed: list[str] = []
    for i, s in enumerate(symbols):
        sl = stops[s]
        out = result(
            sl.intent_id,
            Side.SELL,
            OrderStatus.FILLED,
            ts=T0 + HOUR + i,
            reduce_only=True,
            pos_id=sl.pos_id,
            fills=[fill(f"x{s}", "46028.9", "0.050", T0 + HOUR + i)],
        )
        await shell(out.model_copy(update={"symbol": s}))
        await shell(out.model_copy(update={"symbol": s}))  # redelivered: nothing more comes back
        closed.append(s)
        usage = await gate.usage(symbols)
        assert usage.budget_inuse == sum(m for t, m in margins.items() if t not in closed)
        assert usage.concurrency == {t: 0 if t in closed else 1 for t in symbols}
    usage = await gate.usage(symbols)
    assert (usage.budget_inuse, set(usage.concurrency.values())) == (D(0), {0})
    assert sum((r.margin_usdt for o in shell.outs for r in o.released), Decimal(0)) == sum(margins.values())


async def test_auto_treasury_claims_each_bucket_once(
    client: RedisClient, keyspace: Keyspace, gate: EntryGate
) -> None:
    cfg = make_config(treasury={"min_free_fut": "500", "step": "0.01", "bucket_ms": HOUR})
    svc = service(client, keyspace, gate, cfg)
    await svc.load()
    first = await svc.treasury(D("320.004"), D("1000"), T0 + 10)
    assert first.row is not None and first.row["amount"] == D("180.00")
    again = await svc.treasury(D("320.5"), D("1000"), T0 + 20)  # same hour, a slightly different need
    assert again.decision.request is not None
    assert again.decision.request.transfer_id == first.row["transfer_id"] and again.row is None
    later = await svc.treasury(D("320.004"), D("1000"), T0 + HOUR)
    assert later.row is not None and later.row["transfer_id"] != first.row["transfer_id"]
    nothing = await svc.treasury(D("500"), D("1000"), T0 + 2 * HOUR)
    assert (nothing.decision.why, nothing.row) == ("NO_NEED", None)


async def test_snapshot_and_transfer_rows_fit_their_tables(
    client: RedisClient, keyspace: Keyspace, gate: EntryGate, ch_server: ServerBackend
) -> None:
    svc = service(client, keyspace, gate, make_config(treasury={"min_free_fut": "500"}))
    await svc.load()
    shell = Shell(svc)
    sl = (await shell(entry_fill("46400.2", "0.050", T0)))[0]
    await shell(
        result(
            sl.intent_id,
            Side.SELL,
            OrderStatus.FILLED,
            ts=T0 + 9,
            reduce_only=True,
            pos_id=sl.pos_id,
            fills=[fill("x1", "46028.9", "0.050", T0 + 9)],
        )
    )
    rows = [r for o in shell.outs for r in o.snapshots]
    transfer = (await svc.treasury(D("12.5"), D("9000"), T0)).row
    assert transfer is not None
    sink = BatchingSink(ch_server, TestClock(T0))
    pos_id = pos_id_for(ENTRY)
    for offset, row in enumerate(rows):
        sink.add(row, table="positions_snapshots", topic=f"pos.{keyspace.prefix}", partition=0, offset=offset)
    sink.add(transfer, table="treasury_transfers", topic=f"s6.{keyspace.prefix}", partition=0, offset=0)
    sink.flush()
    assert sink.take_dead_letters() == []
    got = ch_server.query(
        "SELECT seq, status, toString(qty), toString(realized_pnl), toString(sl_price) "
        f"FROM positions_snapshots FINAL WHERE pos_id = '{pos_id}' ORDER BY seq"
    ).rows
    assert [(int(s), st) for s, st, *_ in got] == [(0, "OPEN"), (1, "CLOSED")]
    # 0.05 x (46028.9 - 46400.2) - 0.928004 - 0.920578; qty 0 after the close
    assert (D(got[-1][3]), D(got[-1][2])) == (D("-20.413582"), D(0))
    tid = transfer["transfer_id"]
    [t] = ch_server.query(
        "SELECT status, toString(amount), requested_by FROM treasury_transfers FINAL "
        f"WHERE transfer_id = '{tid}'"
    ).rows
    assert (t[0], D(t[1]), t[2]) == ("PENDING", D("487.50"), "s6-auto")


async def test_an_open_position_keeps_its_reservation_past_the_lease(
    client: RedisClient, keyspace: Keyspace, gate: EntryGate, clock: TestClock
) -> None:
    # leases of 2 h: the position's is renewed every hour, a reservation nobody renews lapses
    svc = service(client, keyspace, gate, make_config(gate_lease_ttl_ms=2 * HOUR))
    await svc.load()
    shell = Shell(svc)
    assert (await gate.reserve(ENTRY, BTC, MARGIN, "1000", 2, 2 * HOUR)).granted
    assert (await gate.reserve("int-orphan", BTC, D("10"), "1000", 2, 2 * HOUR)).granted
    sl = (await shell(entry_fill("46400.2", "0.050", T0)))[0]
    for hours in (1, 2, 3):
        clock.set(T0 + hours * HOUR)
        await shell(Tick(BTC, T0 + hours * HOUR, D("46300.0")))
    assert await gate.reclaim_expired() == ["int-orphan"]
    assert (await gate.usage([BTC])).budget_inuse == MARGIN
    assert [o.lapsed for o in shell.outs if o.lapsed] == []
    clock.set(T0 + 3 * HOUR + 5)
    await shell(
        result(
            sl.intent_id,
            Side.SELL,
            OrderStatus.FILLED,
            ts=T0 + 3 * HOUR + 5,
            reduce_only=True,
            pos_id=sl.pos_id,
            fills=[fill("x1", "46028.9", "0.050", T0 + 3 * HOUR + 5)],
        )
    )
    released = [r for o in shell.outs for r in o.released]
    assert [(r.released, r.margin_usdt) for r in released] == [(True, MARGIN)]
    usage = await gate.usage([BTC])
    assert (usage.budget_inuse, usage.concurrency) == (D(0), {BTC: 0})
