# ruff: noqa: F811 (pytest fixtures are imported, then named as test arguments)
"""TreasuryService on the real stack: Redis (single and Cluster), ClickHouse (chdb and
clickhouse-server), Kafka ops.events, SimVenue. Every test runs on both stacks."""

from __future__ import annotations

import asyncio
from decimal import Decimal as D
from typing import Any

import pytest
from treasury_fixtures import (  # noqa: F401
    T0,
    Crash,
    Rig,
    RigFactory,
    SpyVenue,
    body,
    make_rig,
    restart,
    treasury_databases,
)

from agents.connectors.port import OutcomeUnknown
from agents.connectors.treasury.errors import InvalidTransferRequest, TransferConflict
from agents.connectors.treasury.machine import Status
from agents.connectors.treasury.policy import DAY_MS
from chimera.model import Market
from sinks.clickhouse.sink import BatchingSink

SPOT, FUT = Market.SPOT, Market.FUT
USDT = D("0.00000001")


def history(rig: Rig, tid: str) -> list[tuple[int, str]]:
    """(version, status) of every stored row; a merge may already have collapsed older versions."""
    return [(r["version"], r["status"]) for r in rig.rows(tid)]


def assert_ends(rig: Rig, tid: str, *statuses: str) -> dict[str, Any]:
    """The stored rows are ``statuses`` at versions 1.., each at most once (ReplacingMergeTree drops
    older versions at merges, and chdb already on insert), and FINAL holds the last one."""
    expected = list(enumerate(statuses, start=1))
    stored = history(rig, tid)
    assert stored and stored[-1] == expected[-1], stored
    assert [row for row in expected if row in stored] == stored, stored
    (final,) = rig.final(tid)
    assert (final["version"], final["status"]) == expected[-1]
    return final


def kinds(events: list[Any], tid: str) -> list[str]:
    return [e.kind for e in events if e.subject == tid]


async def test_the_same_transfer_id_twice_moves_the_money_once(make_rig: RigFactory) -> None:
    rig = await make_rig()
    first = await rig.service.submit(body("tr-twice"))
    again = await rig.service.submit(body("tr-twice"))

    assert first.result is Status.DONE and first.final
    assert again == first
    assert rig.venue.calls == ["tr-twice"]
    assert await rig.balance(SPOT) == D("8500") and await rig.balance(FUT) == D("11500")
    final = assert_ends(rig, "tr-twice", "PENDING", "SUBMITTED", "DONE")
    assert final["amount"] == D("1500") and final["venue_transfer_id"] == "1"
    assert (final["requested_by"], final["approved_by"]) == ("s6", "ops-alice")
    assert (final["created_ts"], final["ts"]) == (T0, T0)
    events = rig.audit_all()
    assert kinds(events, "tr-twice") == ["TRANSFER_PENDING", "TRANSFER_SUBMITTED", "TRANSFER_DONE"]
    done = events[-1]
    assert done.source == "connectors" and done.actor == "ops-alice"
    assert done.detail["amount"] == "1500" and done.detail["version"] == 3


async def test_twenty_concurrent_requests_with_one_id_execute_once(make_rig: RigFactory) -> None:
    rig = await make_rig()
    answers = await asyncio.gather(*(rig.service.submit(body("tr-20", "2500.5")) for _ in range(20)))

    assert {a.result for a in answers} == {Status.DONE}
    assert len({a.model_dump_json() for a in answers}) == 1  # everyone got the first answer
    assert rig.venue.calls == ["tr-20"]
    assert await rig.balance(SPOT) == D("7499.5") and await rig.balance(FUT) == D("12500.5")
    assert_ends(rig, "tr-20", "PENDING", "SUBMITTED", "DONE")
    assert kinds(rig.audit_all(), "tr-20") == ["TRANSFER_PENDING", "TRANSFER_SUBMITTED", "TRANSFER_DONE"]
    assert await rig.service.ledger.used("USDT", T0, DAY_MS, USDT) == D("2500.5")


async def test_concurrent_transfers_on_both_routes_share_one_daily_limit(make_rig: RigFactory) -> None:
    rig = await make_rig()
    # 2 × 5000 in opposite directions at once: the cap (8000) admits exactly one
    answers = await asyncio.gather(
        rig.service.submit(body("tr-a", "5000", "SPOT", "FUT")),
        rig.service.submit(body("tr-b", "5000", "FUT", "SPOT")),
    )
    results = sorted(a.result for a in answers)
    assert results == [Status.DONE, Status.REFUSED]
    refused = next(a for a in answers if a.result is Status.REFUSED)
    assert refused.message.startswith("OVER_DAILY_LIMIT:") and "(5000 USDT already moved)" in refused.message
    assert len(rig.venue.calls) == 1
    assert await rig.balance(SPOT) + await rig.balance(FUT) == D("20000")


async def test_over_the_per_transfer_limit_is_refused_and_the_venue_untouched(make_rig: RigFactory) -> None:
    rig = await make_rig()
    answer = await rig.service.submit(body("tr-big", "5000.00000001"))

    reason = "OVER_TRANSFER_LIMIT: 5000.00000001 USDT is over the per-transfer limit of 5000 USDT"
    assert (answer.result, answer.message) == (Status.REFUSED, reason)
    assert rig.venue.calls == []
    assert await rig.balance(SPOT) == D("10000") and await rig.balance(FUT) == D("10000")
    final = assert_ends(rig, "tr-big", "PENDING", "REFUSED")
    assert final["reason"] == reason
    assert kinds(rig.audit_all(), "tr-big") == ["TRANSFER_PENDING", "TRANSFER_REFUSED"]
    # a refusal is the id's answer: asking again changes nothing
    assert await rig.service.submit(body("tr-big", "5000.00000001")) == answer
    assert rig.venue.calls == []


async def test_over_the_daily_limit_is_refused_until_the_window_rolls(make_rig: RigFactory) -> None:
    rig = await make_rig()
    assert (await rig.service.submit(body("d-1", "5000", "SPOT", "FUT"))).result is Status.DONE
    rig.clock.advance(3_600_000)
    assert (await rig.service.submit(body("d-2", "2000", "FUT", "SPOT"))).result is Status.DONE

    rig.clock.advance(3_600_000)
    over = await rig.service.submit(body("d-3", "1000.00000001"))
    assert over.result is Status.REFUSED
    assert over.message == (
        "OVER_DAILY_LIMIT: 1000.00000001 USDT would bring the last 24 h to 8000.00000001 USDT, "
        "over the daily limit of 8000 USDT (7000 USDT already moved)"
    )
    assert rig.venue.calls == ["d-1", "d-2"]
    assert_ends(rig, "d-3", "PENDING", "REFUSED")

    exact = await rig.service.submit(body("d-4", "1000"))  # up to the cap exactly
    assert exact.result is Status.DONE

    rig.clock.advance(DAY_MS - 2 * 3_600_000)  # d-1 (5000) leaves the window; d-2, d-4 stay
    assert (await rig.service.submit(body("d-5", "5000"))).result is Status.DONE
    assert await rig.balance(SPOT) == D("10000") - 5000 + 2000 - 1000 - 5000
    assert await rig.service.ledger.used("USDT", rig.clock.now_ms(), DAY_MS, USDT) == D("8000")


async def test_a_route_off_the_whitelist_is_refused(make_rig: RigFactory) -> None:
    rig = await make_rig()
    answer = await rig.service.submit(body("tr-btc", "0.5", asset="BTC"))
    assert answer.result is Status.REFUSED
    assert answer.message == (
        "ROUTE_NOT_WHITELISTED: route SPOT→FUT BTC is not on the whitelist "
        "(allowed: SPOT→FUT USDT, FUT→SPOT USDT)"
    )
    assert rig.venue.calls == []
    assert await rig.balance(SPOT, "BTC") == D("1")
    assert_ends(rig, "tr-btc", "PENDING", "REFUSED")


async def test_a_venue_failure_is_failed_with_the_venues_message(make_rig: RigFactory) -> None:
    rig = await make_rig(balances={"SPOT": {"USDT": "100"}, "FUT": {"USDT": "0"}})
    answer = await rig.service.submit(body("tr-poor", "150"))

    assert answer.result is Status.FAILED and answer.final
    assert answer.message == (
        "VENUE_REFUSED: transfer tr-poor: 150 USDT from SPOT, free 100 (venue code -5002)"
    )
    assert rig.venue.calls == ["tr-poor"]
    assert await rig.balance(SPOT) == D("100")
    final = assert_ends(rig, "tr-poor", "PENDING", "SUBMITTED", "FAILED")
    assert final["reason"] == answer.message
    assert kinds(rig.audit_all(), "tr-poor") == ["TRANSFER_PENDING", "TRANSFER_SUBMITTED", "TRANSFER_FAILED"]
    # nothing moved, so nothing counts against the day; the id keeps its answer
    assert await rig.service.ledger.used("USDT", T0, DAY_MS, USDT) == D("0")
    assert await rig.service.submit(body("tr-poor", "150")) == answer
    assert rig.venue.calls == ["tr-poor"]


async def test_an_unknown_outcome_stays_submitted_and_is_never_sent_again(make_rig: RigFactory) -> None:
    rig = await make_rig()
    rig.venue.after = OutcomeUnknown(
        "transfer tr-lost: outcome unknown (RequestTimeout); not re-sent", "unresolved"
    )
    answer = await rig.service.submit(body("tr-lost"))

    assert answer.result is Status.SUBMITTED and not answer.final
    assert answer.message.startswith("OUTCOME_UNKNOWN: transfer tr-lost: outcome unknown (RequestTimeout)")
    assert await rig.balance(FUT) == D("11500")  # it did move
    rig.venue.after = None
    again = await rig.service.submit(body("tr-lost"))
    assert again.result is Status.SUBMITTED and "not re-sent" in again.message
    assert rig.venue.calls == ["tr-lost"]
    assert await rig.balance(FUT) == D("11500")
    assert_ends(rig, "tr-lost", "PENDING", "SUBMITTED")
    kinds_ = kinds(rig.audit_all(), "tr-lost")
    assert kinds_ == ["TRANSFER_PENDING", "TRANSFER_SUBMITTED", "TRANSFER_OUTCOME_UNKNOWN"]
    # the hold stays: the money may have moved
    assert await rig.service.ledger.used("USDT", T0, DAY_MS, USDT) == D("1500")


async def test_a_different_body_under_a_used_id_is_a_conflict(make_rig: RigFactory) -> None:
    rig = await make_rig()
    await rig.service.submit(body("tr-c", "100"))
    with pytest.raises(TransferConflict, match="tr-c was already used for a different transfer"):
        await rig.service.submit(body("tr-c", "101"))
    with pytest.raises(TransferConflict):
        await rig.service.submit(body("tr-c", "100", "FUT", "SPOT"))
    # the same body spelled differently is the same transfer
    assert (await rig.service.submit(body("tr-c", "100.000"))).result is Status.DONE
    assert rig.venue.calls == ["tr-c"]


async def test_the_idempotency_key_names_the_transfer_and_must_match_the_body(make_rig: RigFactory) -> None:
    rig = await make_rig()
    no_id = {k: v for k, v in body("x").items() if k != "transfer_id"}
    answer = await rig.service.submit(no_id, idempotency_key="tr-hdr")
    assert (answer.transfer_id, answer.result) == ("tr-hdr", Status.DONE)
    assert await rig.service.submit(body("tr-hdr"), idempotency_key="tr-hdr") == answer
    with pytest.raises(InvalidTransferRequest) as err:
        await rig.service.submit(body("tr-other"), idempotency_key="tr-hdr")
    assert err.value.errors[0]["loc"] == ["header", "Idempotency-Key"]
    with pytest.raises(InvalidTransferRequest) as err:
        await rig.service.submit(no_id)
    assert err.value.errors[0]["loc"] == ["body", "transfer_id"]
    assert rig.venue.calls == ["tr-hdr"]


async def test_a_crash_after_the_send_is_never_resent_by_the_next_process(make_rig: RigFactory) -> None:
    rig = await make_rig()
    rig.venue.after = Crash()  # the money moves, then the process dies
    with pytest.raises(Crash):
        await rig.service.submit(body("tr-crash"))
    assert await rig.balance(FUT) == D("11500")

    rig2 = await restart(rig, make_rig)
    answer = await rig2.service.submit(body("tr-crash"))
    assert answer.result is Status.SUBMITTED and "not re-sent" in answer.message
    assert rig2.venue.calls == []
    assert await rig.balance(FUT) == D("11500")


async def test_a_crash_before_the_send_is_carried_on_by_the_next_process(
    make_rig: RigFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    rig = await make_rig()

    async def die(*args: object, **kwargs: object) -> None:
        raise Crash()

    monkeypatch.setattr(rig.service.ledger, "reserve", die)  # dies while PENDING: nothing sent
    with pytest.raises(Crash):
        await rig.service.submit(body("tr-early"))
    assert rig.venue.calls == []

    rig2 = await restart(rig, make_rig)
    answer = await rig2.service.submit(body("tr-early"))
    assert answer.result is Status.DONE
    assert rig2.venue.calls == ["tr-early"]
    assert await rig.balance(FUT) == D("11500")
    (final,) = rig.final("tr-early")
    assert final["status"] == "DONE"


async def test_clickhouse_refuses_a_second_send_when_redis_lost_the_record(make_rig: RigFactory) -> None:
    rig = await make_rig()
    first = await rig.service.submit(body("tr-mem"))
    await rig.service.records.forget("tr-mem")  # a Redis failover without persistence, or an expired TTL

    rig2 = await restart(rig, make_rig)
    again = await rig2.service.submit(body("tr-mem"))
    assert (again.result, again.message) == (first.result, first.message)
    assert rig2.venue.calls == [] and rig.venue.calls == ["tr-mem"]
    assert await rig.balance(FUT) == D("11500")
    await rig.service.records.forget("tr-mem")
    with pytest.raises(TransferConflict, match="recorded for a different transfer"):
        await rig2.service.submit(body("tr-mem", "99"))


def upstream_row(rig: Rig, tid: str, status: str, amount: str = "1500") -> None:
    """A treasury_transfers row another service wrote first (S6 creates PENDING, S12 decides)."""
    sink = BatchingSink(rig.backend, rig.clock)
    row = {
        "transfer_id": tid,
        "version": 1,
        "status": status,
        "from_account": "SPOT",
        "to_account": "FUT",
        "asset": "USDT",
        "amount": D(amount),
        "reason": "S6 auto: need=1500",
        "requested_by": "s6",
        "approved_by": "",
        "venue_transfer_id": "",
        "created_ts": T0 - 1,
        "ts": T0 - 1,
    }
    sink.add(row, table="treasury_transfers", topic="s6", partition=0, offset=0)
    sink.flush()
    assert not sink.take_dead_letters()


async def test_a_transfer_s6_recorded_as_pending_continues_its_versions(make_rig: RigFactory) -> None:
    rig = await make_rig()
    upstream_row(rig, "tr-s6", "PENDING")
    answer = await rig.service.submit(body("tr-s6"))
    assert answer.result is Status.DONE
    assert rig.venue.calls == ["tr-s6"]
    assert_ends(rig, "tr-s6", "PENDING", "PENDING", "SUBMITTED", "DONE")


async def test_a_transfer_s12_rejected_is_never_executed(make_rig: RigFactory) -> None:
    rig = await make_rig()
    upstream_row(rig, "tr-no", "REJECTED")
    answer = await rig.service.submit(body("tr-no"))
    assert answer.result is Status.REFUSED and answer.message.startswith("REJECTED:")
    assert rig.venue.calls == []
    with pytest.raises(TransferConflict):
        upstream_row(rig, "tr-other", "PENDING", amount="10")
        await rig.service.submit(body("tr-other", "20"))


async def test_a_busy_route_makes_a_request_wait_for_the_lock(make_rig: RigFactory) -> None:
    rig = await make_rig()
    gate = asyncio.Event()

    class Slow(SpyVenue):
        async def transfer(self, *args: Any) -> Any:
            await gate.wait()
            return await super().transfer(*args)

    rig = await make_rig(venue=Slow(rig.venue.sim), lock_wait_ms=5_000)
    first = asyncio.create_task(rig.service.submit(body("tr-s1", "10")))
    await asyncio.sleep(0.1)
    second = asyncio.create_task(rig.service.submit(body("tr-s2", "20")))
    await asyncio.sleep(0.1)
    assert not second.done()  # waits on lock:{treasury}:SPOT:FUT
    assert await rig.redis.get(rig.keyspace.lock_treasury("SPOT", "FUT"))
    gate.set()
    assert [(await first).result, (await second).result] == [Status.DONE, Status.DONE]
    assert rig.venue.calls == ["tr-s1", "tr-s2"]
    assert await rig.redis.get(rig.keyspace.lock_treasury("SPOT", "FUT")) is None
