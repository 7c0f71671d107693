"""What a run leaves behind adds up: positions and cash recomputed from the ``fills`` table (and
``funding_records``) equal the venue's wallet and positions and S6's books; an open position rests
on its stop at the venue; the entry gate in Redis holds exactly what is open — nothing at all once
the run closed everything. Real BTC perpetual bars and the XRP perpetual week with its funding."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

from conftest import Run, RunFactory
from engine_kit import TOL, btc, bundle, check_cash, last_snapshots, unprotected, xrp, xrp_bundle

from agents.engine.engine import END_OF_RUN
from chimera.model import Market, OrderType
from sinks.redis import Keyspace

D = Decimal


async def gate_in_redis(run: Run, symbols: list[str]) -> tuple[Decimal, dict[str, int], Counter[str]]:
    """Budget in use, slots per symbol and reservation states, read from the run's keys."""
    ks, r = Keyspace(run.cfg.key_prefix), run.redis
    budget = D(int(await r.get(ks.gate_budget_inuse()) or 0)).scaleb(-6)
    slots = {s: int(await r.get(ks.gate_concurrency(s)) or 0) for s in symbols}
    states: Counter[str] = Counter()
    async for key in r.scan_iter(match=ks.gate_reservation_prefix() + "*", count=500):
        states[str(await r.hget(key, "state"))] += 1
    return budget, slots, states


async def test_a_run_closed_at_the_end_adds_up_and_gives_the_gate_back(run: RunFactory) -> None:
    done = await run(btc(days=1), bundle(), regime="NORMAL")
    res, db = done.result, done.db
    assert res.final is not None and not res.dead_letters and not res.rejected_features
    check_cash(done.result, done.db)
    assert res.final.positions == [] and res.final.open_orders == []
    snaps = last_snapshots(db)
    assert len(snaps) > 30 and {v["status"] for v in snaps.values()} == {"CLOSED"}
    closed_at_end = [i for i in res.intents if i.reason == END_OF_RUN]
    assert len(closed_at_end) <= 1

    budget, slots, states = await gate_in_redis(done, ["BTCUSDT"])
    assert budget == 0 and slots == {"BTCUSDT": 0}
    opens = [d for d in res.decisions if d.action == "open"]
    assert states == Counter({"released": len(opens)})  # every reservation an open took came back

    # the record holds what the services published, one row each
    assert db.query("SELECT count() FROM signals FINAL").rows[0][0] == len(res.decisions)
    by_reason = dict(db.query("SELECT reason, count() FROM signals FINAL GROUP BY reason").rows)
    assert by_reason == dict(res.reasons())
    fills = db.query("SELECT trade_id, client_order_id, price, qty, fee FROM fills FINAL").rows
    assert sorted(fills) == sorted(
        (f.trade_id, r.client_order_id, f.price, f.qty, f.fee) for r, f in res.fills
    )
    orders = db.query("SELECT client_order_id, version, status FROM orders FINAL").rows
    assert sorted(orders) == sorted({(r.client_order_id, r.version, r.status.value) for r in res.orders})
    assert db.query("SELECT count() FROM positions_snapshots FINAL").rows[0][0] == res.snapshots
    placed = db.query("SELECT count() FROM strategy_events FINAL WHERE kind = 'TP_SL_PLACED'").rows[0][0]
    assert placed >= len(snaps)  # each position's stop and target, at least once


async def test_an_open_position_at_the_end_is_its_fills_and_rests_on_its_stop(run: RunFactory) -> None:
    # the first half day ends with a short open (found by running it; the data are fixed)
    done = await run(btc(days=0.5), bundle(), regime="NORMAL", flatten_at_end=False)
    res = done.result
    assert res.final is not None
    (pos,) = res.final.positions
    assert pos.qty < 0
    check_cash(done.result, done.db)
    assert unprotected(res) == []
    (stop,) = [o for o in res.final.open_orders if o.type is OrderType.STOP_MARKET]
    snaps = last_snapshots(done.db)
    (open_pos,) = [v for v in snaps.values() if v["status"] == "OPEN"]
    assert open_pos["qty"] == -pos.qty and stop.stop_price is not None
    assert stop.reduce_only and stop.qty == -pos.qty and stop.stop_price > pos.entry_price  # above a short

    budget, slots, states = await gate_in_redis(done, ["BTCUSDT"])
    assert slots == {"BTCUSDT": 1} and states["held"] == 1
    assert budget == res.final.gate.budget_inuse > 0
    # the held reservation is the open position's entry (S3 sized it at the decision's close)
    assert abs(budget - abs(pos.qty) * pos.entry_price / 3) < D("0.5")


async def test_funding_is_recorded_as_the_venue_settled_it(run: RunFactory) -> None:
    done = await run(xrp(), xrp_bundle(), regime="NORMAL")
    res, db = done.result, done.db
    assert res.funding, "the XRP week holds positions over settlements"
    rows = db.query("SELECT symbol, funding_time, position_qty, amount_usdt FROM funding_records FINAL").rows
    assert sorted(rows) == sorted((p.symbol, p.funding_time, p.position_qty, p.amount) for p in res.funding)
    assert {p.symbol for p in res.funding} == {"XRPUSDT"}
    assert all(p.funding_time % (8 * 3_600_000) == 0 for p in res.funding)
    check_cash(done.result, done.db)  # the cash includes what funding paid and received
    snaps = last_snapshots(db)
    s6_paid = sum((v["funding_paid"] for v in snaps.values()), D(0))
    assert abs(s6_paid + sum((p.amount for p in res.funding), D(0))) <= TOL
    assert not res.dead_letters  # freqtrade's float noise held at the column scale, nothing refused
    xrp_fills = [f for r, f in res.fills if r.symbol == "XRPUSDT" and r.market is Market.FUT]
    assert xrp_fills and all(f.price == f.price.quantize(D("0.0001")) for f in xrp_fills)
