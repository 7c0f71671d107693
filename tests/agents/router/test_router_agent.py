"""S4's Faust agent in a real worker (``chimera worker --services router``) on the real Kafka, Redis
and clickhouse-server, with its paper venue: market batches move the venue, intents on
``ord.intents`` become venue orders reported on ``ord.results`` and recorded in ``orders`` /
``fills``; a repeated intent places nothing; the event-time timer drives TWAP slices and a maker
order's timeout; a resting stop fills when a later batch crosses it — also after the worker was
killed with SIGKILL in between (the desk image); an intent whose send a crash cut off before the
venue saw it is sent once; a funding rate is settled and recorded; ``POST /orders`` / ``POST
/cancel`` go the same way, and an invalid body is a 422 naming the field."""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from agents.connectors.marketdata import MarketEvent, MicroBatcher
from agents.router.http import KafkaIntentBus, create_app
from chimera.model import Market, OrderStatus, Side, client_order_id_for
from chimera.settings import Settings
from tests.agents.worker_kit import Reader, Worker, wait_for
from tests.integration.pipeline_kit import Made, Stack, pipeline_bundle
from topics.codec import encode
from topics.envelope import DeadLetter
from topics.market import FundingEvent, MarketBatch
from topics.producer import make_producer
from topics.trading import CancelIntent, OrderIntent, OrderResult

pytestmark = [pytest.mark.kafka, pytest.mark.redis, pytest.mark.clickhouse]

BTC = "BTCUSDT"
T0 = 1_641_772_800_000
MINUTE = 60_000
TIMEOUT_S = 60.0


@pytest.fixture
def made(
    kafka_bootstrap: str, redis_url: str, clickhouse_url: str, unique_name: str, tmp_path: Path
) -> Iterator[Made]:
    m = Made(kafka_bootstrap, redis_url, clickhouse_url, unique_name[:50], tmp_path)
    yield m
    m.close()


def publish(bootstrap: str, topic: str, records: list[tuple[bytes, bytes]]) -> None:
    """Send with the agents' partitioner (murmur2): a symbol's market data, its intents from any
    producer (the HTTP bus, aiokafka) and the router's desk for it share one partition."""
    producer = make_producer(bootstrap, acks="all")
    for key, value in records:
        producer.produce(topic, value, key)
    assert producer.flush(30) == 0


def batch_of(*ticks: tuple[int, str]) -> bytes:
    """One mkt.perp batch of bar ticks (trades) at ``(ts, price)``."""
    batcher = MicroBatcher(10 * MINUTE, 256, 5)
    for ts, price in ticks:
        assert not batcher.add(
            MarketEvent(
                ts=ts, symbol=BTC, market=Market.FUT, kind="k", price=Decimal(price), qty=Decimal("2")
            )
        )
    [b] = batcher.flush()
    return b.encode()


def intent(intent_id: str, ts: int, **fields: Any) -> OrderIntent:
    base: dict[str, Any] = {
        "intent_id": intent_id, "symbol": BTC, "market": Market.FUT, "side": Side.BUY, "qty": Decimal("0.01"),
        "exec": "market", "ts": ts, "source": "gateway", "reason": "ENTRY",
    }  # fmt: skip
    return OrderIntent(**(base | fields))


class Router:
    def __init__(self, stack: Stack, worker: Worker) -> None:
        self.stack, self.worker = stack, worker
        self.results = Reader(stack.bootstrap, stack.topic("ord.results"))
        stack.readers.append(self.results)

    def market(self, *ticks: tuple[int, str]) -> None:
        publish(self.stack.bootstrap, self.stack.topic("mkt.perp"), [(BTC.encode(), batch_of(*ticks))])
        last = ticks[-1][0]
        wait_for(
            f"the venue at {last}", lambda: (self.desk() or {}).get("now", 0) >= last, TIMEOUT_S, self.worker
        )

    def send(self, msg: OrderIntent | CancelIntent) -> None:
        publish(
            self.stack.bootstrap,
            self.stack.topic("ord.intents"),
            [(BTC.encode(), encode(msg, "ord.intents"))],
        )

    def desk(self) -> dict[str, Any] | None:
        for p in range(2):
            d = self.worker.get_json(f"/router/desk/{p}/")
            if d is not None:
                return dict(d)
        return None

    def wait_results(self, what: str, check: Any) -> list[OrderResult]:
        out: list[OrderResult] = []

        def done() -> bool:
            nonlocal out
            self.results.poll()
            out = [OrderResult.decode(v) for v in self.results.values()]
            return bool(check(out))

        wait_for(what, done, TIMEOUT_S, self.worker)
        return out


def final(results: list[OrderResult], intent_id: str) -> dict[str, OrderResult]:
    """Each order of the intent at its newest version."""
    out: dict[str, OrderResult] = {}
    for r in results:
        if r.intent_id == intent_id and (
            r.client_order_id not in out or r.version >= out[r.client_order_id].version
        ):
            out[r.client_order_id] = r
    return out


def long_with_stop(r: Router, name: str, sl_price: str) -> OrderIntent:
    """A long entered at T0 and filled, then its stop resting at the venue: the stop's intent."""
    r.send(intent(f"int-agent-{name}-entry", T0))
    r.wait_results("the entry", lambda rs: any(x.status is OrderStatus.FILLED for x in rs))
    stop = intent(f"int-agent-{name}-stop", T0, side=Side.SELL, exec="sl_tp", reduce_only=True,
                  sl_price=Decimal(sl_price), pos_id=f"pos-{name}", reason="SL")  # fmt: skip
    r.send(stop)
    r.wait_results("the stop resting", lambda rs: stop.intent_id in {x.intent_id for x in rs})
    return stop


def start(made: Made) -> tuple[Stack, Router]:
    stack = made.stack()
    stack.prepare(pipeline_bundle())
    worker = made.worker(stack).start(services="router", timeout_s=120)
    return stack, Router(stack, worker)


def test_intents_become_venue_orders_once_and_the_market_fills_the_stop(made: Made) -> None:
    stack, r = start(made)
    r.market((T0, "40000"), (T0 + 30_000, "40010"))
    entry = intent("int-agent-entry", T0 + 30_000)
    r.send(entry)
    got = r.wait_results("the entry filled", lambda rs: any(x.status is OrderStatus.FILLED for x in rs))
    [filled] = final(got, entry.intent_id).values()
    assert filled.status is OrderStatus.FILLED and filled.filled_qty == Decimal("0.01")
    assert filled.client_order_id == client_order_id_for(entry.intent_id, 0) and filled.fills
    n = len(got)
    r.send(entry)  # redelivered: answered with the recorded state, nothing placed
    again = r.wait_results("the repeat answered", lambda rs: len(rs) > n)
    assert {x.client_order_id for x in again} == {filled.client_order_id}
    assert final(again, entry.intent_id)[filled.client_order_id].version == filled.version

    stop = intent("int-agent-stop", T0 + 40_000, side=Side.SELL, exec="sl_tp", reduce_only=True,
                  sl_price=Decimal("39900"), pos_id="pos-agent", reason="SL")  # fmt: skip
    r.send(stop)
    r.wait_results("the stop resting", lambda rs: stop.intent_id in {x.intent_id for x in rs})
    desk = r.desk()
    assert desk is not None and [o["type"] for o in desk["open_orders"]] == ["STOP_MARKET"]
    r.market((T0 + MINUTE, "39950"), (T0 + MINUTE + 20_000, "39890"), (T0 + MINUTE + 40_000, "39920"))
    got = r.wait_results(
        "the stop filled",
        lambda rs: any(x.intent_id == stop.intent_id and x.status is OrderStatus.FILLED for x in rs),
    )
    [sl] = final(got, stop.intent_id).values()
    assert sl.fills and sl.fills[0].ts == T0 + MINUTE + 20_000  # the tick that crossed it, in event time
    desk = r.desk()
    assert desk is not None and desk["positions"] == [] and desk["open_orders"] == []

    def recorded() -> tuple[list[dict[str, Any]], list[dict[str, Any]]] | None:
        orders = stack.query("SELECT client_order_id, max(version) AS v FROM orders GROUP BY client_order_id")
        fills = stack.query("SELECT trade_id FROM fills FINAL")
        return (orders, fills) if len(orders) == 2 and len(fills) == 2 else None

    rows = wait_for("orders and fills rows", recorded, TIMEOUT_S, r.worker)
    assert {x["client_order_id"] for x in rows[0]} == {filled.client_order_id, sl.client_order_id}
    assert {x["trade_id"] for x in rows[1]} == {f.trade_id for f in filled.fills + sl.fills}
    r.worker.assert_alive()


def test_the_event_time_timer_sends_twap_slices_and_times_a_maker_out(made: Made) -> None:
    stack, r = start(made)
    r.market((T0, "40000"))
    twap = intent(
        "int-agent-twap", T0, exec="twap", qty=Decimal("0.03"), twap_slices=3, twap_interval_ms=MINUTE
    )
    maker = intent(
        "int-agent-maker", T0, exec="maker_taker", side=Side.SELL, qty=Decimal("0.01"), maker_wait_ms=90_000
    )
    r.send(twap)
    r.send(maker)
    r.wait_results(
        "the first slice and the maker order",
        lambda rs: {x.intent_id for x in rs} >= {twap.intent_id, maker.intent_id},
    )
    # three minutes of bars: slices due at T0+1m and T0+2m, the maker wait ends at T0+90s
    r.market(*((T0 + k * 30_000, "40000") for k in range(1, 7)))
    got = r.wait_results("all slices filled", lambda rs: sum(
        1 for x in final(rs, twap.intent_id).values() if x.status is OrderStatus.FILLED) == 3)  # fmt: skip
    slices = final(got, twap.intent_id)
    assert sorted(slices) == sorted(client_order_id_for(twap.intent_id, k) for k in range(3))
    first_fill = sorted(x.fills[0].ts for x in slices.values())
    assert first_fill == [T0, T0 + MINUTE, T0 + 2 * MINUTE]  # each at its own due time
    got = r.wait_results("the taker leg", lambda rs: any(
        x.intent_id == maker.intent_id and x.status is OrderStatus.FILLED for x in rs))  # fmt: skip
    legs = final(got, maker.intent_id)
    taker = [x for x in legs.values() if x.status is OrderStatus.FILLED]
    assert len(taker) == 1 and taker[0].fills[0].ts == T0 + 90_000 and not taker[0].fills[0].is_maker
    with stack.redis() as client:
        assert client.zcard(stack.keyspace.exec_twap_queue()) == 0
    r.worker.assert_alive()


def one_tick(ts: int, price: str, seq: int, closed_ts: int | None = None) -> bytes:
    """A batch of one bar tick: v1 (closes at its tick), or v2 closed by S1 at ``closed_ts``."""
    return MarketBatch(
        v=1 if closed_ts is None else 2, closed_ts=closed_ts, symbol=BTC, market=Market.FUT, seq=seq,
        first_ts=ts, last_ts=ts, ts=[ts], kind=["k"], price=[float(price)], qty=[2.0], side=[0],
    ).encode()  # fmt: skip


def test_the_venue_moves_to_the_time_s1_closed_a_batch_and_never_back(made: Made) -> None:
    stack, r = start(made)

    def batch(raw: bytes, now: int) -> None:
        publish(stack.bootstrap, stack.topic("mkt.perp"), [(BTC.encode(), raw)])
        wait_for(f"the venue at {now}", lambda: (r.desk() or {}).get("now", 0) >= now, TIMEOUT_S, r.worker)

    batch(one_tick(T0, "40000", 0), T0)  # v1 (a recording from before closed_ts): its last tick
    stop = long_with_stop(r, "c", "39900")
    batch(one_tick(T0 + 10_000, "40000", 1, closed_ts=T0 + 10_100), T0 + 10_100)
    # what the batch sets off happens at its close: an order sent now is the venue's at T0 + 10.1 s
    late = intent("int-agent-c-late", T0 + 10_100, qty=Decimal("0.001"))
    r.send(late)
    got = r.wait_results("the late entry", lambda rs: late.intent_id in {x.intent_id for x in rs})
    assert {x.ts for x in final(got, late.intent_id).values()} == {T0 + 10_100}
    # a tick stamped before the venue's time (another symbol's window closed later on this desk,
    # or live an exchange stamp behind S1's clock) happens at the venue's time: the stop fills then
    publish(stack.bootstrap, stack.topic("mkt.perp"), [(BTC.encode(), one_tick(T0 + 10_050, "39890", 2))])
    got = r.wait_results("the stop filled", lambda rs: any(
        x.intent_id == stop.intent_id and x.status is OrderStatus.FILLED for x in rs))  # fmt: skip
    [sl] = final(got, stop.intent_id).values()
    assert sl.fills[0].ts == T0 + 10_100 and (r.desk() or {}).get("now") == T0 + 10_100
    r.worker.assert_alive()


def test_a_resting_stop_survives_kill_9_and_fills_after_the_restart(made: Made) -> None:
    stack, r = start(made)
    r.market((T0, "40000"))
    stop = long_with_stop(r, "k", "39800")
    r.market((T0 + MINUTE, "39900"))  # a quiet batch: only the cursor moves
    r.worker.stop(signal.SIGKILL)
    r.worker = made.worker(stack).start(services="router", timeout_s=120)
    r.market((T0 + 2 * MINUTE, "39850"), (T0 + 2 * MINUTE + 30_000, "39790"))
    got = r.wait_results("the stop filled after the restart", lambda rs: any(
        x.intent_id == stop.intent_id and x.status is OrderStatus.FILLED for x in rs))  # fmt: skip
    [sl] = final(got, stop.intent_id).values()
    assert sl.fills[0].ts == T0 + 2 * MINUTE + 30_000
    desk = r.desk()
    assert desk is not None and desk["positions"] == [] and len(desk["fills"]) == 2
    assert "S4 desk" in r.worker.log_text()  # restored from the table, caught up to the cursor
    r.worker.assert_alive()


def test_a_bad_intent_is_dead_lettered_and_the_stream_goes_on(made: Made) -> None:
    stack, r = start(made)
    r.market((T0, "40000"))
    publish(stack.bootstrap, stack.topic("ord.intents"), [(BTC.encode(), b'{"op": "place", "qty": "-1"}')])
    ok = intent("int-agent-after-bad", T0)
    r.send(ok)
    r.wait_results(
        "the good intent after the bad one", lambda rs: any(x.intent_id == ok.intent_id for x in rs)
    )
    dlq = Reader(stack.bootstrap, stack.topic("dlq.ord.intents"))
    stack.readers.append(dlq)
    dlq.read_until(lambda vs: len(vs) == 1, TIMEOUT_S, r.worker)
    assert "qty" in DeadLetter.decode(dlq.values()[0]).reason


def test_post_orders_and_cancel_go_through_the_router(made: Made) -> None:
    stack, r = start(made)
    r.market((T0, "40000"))
    settings = Settings(kafka_bootstrap=stack.bootstrap, topic_prefix=stack.prefix)

    async def calls() -> dict[str, Any]:
        bus = KafkaIntentBus(settings)
        await bus.start()
        app = create_app(bus, wait_s=20.0)
        out: dict[str, Any] = {}
        try:
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://s4"
            ) as client:
                body = intent("int-http-1", T0).model_dump(mode="json")
                out["first"] = await client.post("/orders", json=body)
                out["again"] = await client.post("/orders", json=body)
                out["bad"] = await client.post("/orders", json=body | {"qty": "-0.01"})
                out["style"] = await client.post("/orders", json=body | {"exec": "twap"})
                stop = intent("int-http-stop", T0, side=Side.SELL, exec="sl_tp", reduce_only=True,
                              sl_price=Decimal("39000"), reason="SL")  # fmt: skip
                out["stop"] = await client.post("/orders", json=stop.model_dump(mode="json"))
                cancel = CancelIntent(
                    intent_id="int-http-cancel", target_intent_id="int-http-stop", symbol=BTC,
                    market=Market.FUT, ts=T0, source="gateway", reason="MANUAL",
                )  # fmt: skip
                out["cancel"] = await client.post("/cancel", json=cancel.model_dump(mode="json"))
                out["cancel_bad"] = await client.post("/cancel", json={"intent_id": "x"})
        finally:
            await bus.close()
        return out

    out = asyncio.run(calls())
    first, again = out["first"], out["again"]
    assert first.status_code == 200 and again.status_code == 200, (first.text, again.text)
    assert first.json()["client_order_id"] == again.json()["client_order_id"]
    assert again.json()["status"] in ("NEW", "FILLED"), (first.text, again.text)
    desk = r.desk()
    assert desk is not None and desk["orders"] == 2  # the entry once, and the stop
    for bad, field in (
        (out["bad"], "qty"),
        (out["style"], "twap_slices"),
        (out["cancel_bad"], "target_intent_id"),
    ):
        assert bad.status_code == 422
        assert field in str(bad.json()["detail"]), bad.json()
    assert out["stop"].status_code == 200 and out["stop"].json()["status"] == "NEW"
    assert out["cancel"].status_code == 200 and out["cancel"].json()["status"] == "CANCELED", out[
        "cancel"
    ].text


def test_the_paper_venue_is_the_in_process_engines() -> None:
    """Backtest/paper parity: the router's SimVenue is configured as the engine's for a bundle."""
    from agents.config.bundle import parse_bundle
    from agents.engine.config import EngineConfig, venue_config
    from agents.router.agent import paper_venue_config

    bundle = parse_bundle(pipeline_bundle())
    assert paper_venue_config(bundle.strategy) == venue_config(bundle, EngineConfig())


def test_funding_on_mkt_funding_is_settled_by_the_paper_venue_and_recorded(made: Made) -> None:
    stack, r = start(made)
    r.market((T0, "40000"))
    r.send(intent("int-agent-funded", T0))
    r.wait_results("the entry", lambda rs: any(x.status is OrderStatus.FILLED for x in rs))
    settlement = T0 + 8 * 3_600_000  # 08:00 UTC
    rate = FundingEvent(symbol=BTC, funding_time=settlement, rate=Decimal("0.0001"), ts=settlement)
    publish(stack.bootstrap, stack.topic("mkt.funding"), [(BTC.encode(), encode(rate, "mkt.funding"))])
    # two topics are read in no set order: the rate is in before the bar that crosses 08:00
    wait_for(
        "the rate at the venue",
        lambda: "mkt.funding" in (r.desk() or {}).get("applied", {}),
        TIMEOUT_S,
        r.worker,
    )
    r.market((settlement + 2 * MINUTE, "40100"))  # past the settlement (and its grace for the rate)

    def paid() -> list[dict[str, Any]] | None:
        rows = stack.query("SELECT * FROM funding_records FINAL")
        return rows or None

    [row] = wait_for("the funding_records row", paid, TIMEOUT_S, r.worker)
    assert (row["symbol"], row["funding_time"], row["position_qty"]) == (BTC, settlement, Decimal("0.01"))
    assert row["amount_usdt"] < 0  # a long pays a positive rate
    desk = r.desk()
    assert desk is not None
    fut = desk["balances"]["FUT"]["USDT"]
    fees = sum(Decimal(f["fee"]) for f in desk["fills"])
    assert Decimal(fut["total"]) == Decimal(10_000) - fees + row["amount_usdt"]


def test_an_intent_whose_send_a_crash_cut_off_is_sent_once_after_the_restart(made: Made) -> None:
    """What a crash leaves between claiming and the journaled venue call: the intent's record and
    its order's claim in Redis, nothing at the venue. The redelivered intent is sent (once)."""
    stack, r = start(made)
    r.market((T0, "40000"))
    cut = intent("int-agent-cut-off", T0)
    order = client_order_id_for(cut.intent_id, 0)
    with stack.redis() as client:
        record = json.dumps({"intent": cut.model_dump(mode="json"), "refused": None})
        client.set(stack.keyspace.idem("intent", cut.intent_id), record, px=3_600_000)
        client.set(stack.keyspace.idem("order", order), json.dumps({"at": T0}), px=3_600_000)
    r.send(cut)
    got = r.wait_results(
        "the cut-off intent filled", lambda rs: any(x.status is OrderStatus.FILLED for x in rs)
    )
    assert set(final(got, cut.intent_id)) == {order}
    desk = r.desk()
    assert desk is not None and desk["orders"] == 1 and len(desk["fills"]) == 1
    assert "claimed, never at the venue" in r.worker.log_text()
    r.send(cut)  # and again: now a true redelivery, answered from the venue
    again = r.wait_results("the repeat answered", lambda rs: len(rs) > len(got))
    assert {x.client_order_id for x in again} == {order}
    desk = r.desk()
    assert desk is not None and desk["orders"] == 1
