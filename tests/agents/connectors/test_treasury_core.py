"""The treasury's pure core: policy validation, the checks and their reasons, the state machine.

No Redis, ClickHouse, Kafka or venue here: events in, (state, effects) out.
"""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

import pytest
from pydantic import ValidationError

from agents.connectors.treasury.machine import (
    Audit,
    DailyChecked,
    InvalidTransition,
    Persist,
    ReleaseDaily,
    Reply,
    Requested,
    ReserveDaily,
    SendTransfer,
    Status,
    TransferOrder,
    VenueAccepted,
    VenueRefused,
    VenueUnknown,
    answer_from_record,
    step,
)
from agents.connectors.treasury.models import TransferRequest, TransferResponse
from agents.connectors.treasury.policy import DAY_MS, TreasuryPolicy, amount_problem, check_transfer
from chimera.model import Market

SPOT, FUT = Market.SPOT, Market.FUT
T0 = 1_735_689_600_000

POLICY_FIELDS: dict[str, Any] = {
    "limits": {
        "USDT": {"step": "0.00000001", "max_per_transfer": "5000", "max_per_day": "8000"},
        "BTC": {"step": "0.00000001", "max_per_transfer": "1", "max_per_day": "2"},
    },
    "routes": [
        {"from_account": "SPOT", "to_account": "FUT", "asset": "USDT"},
        {"from_account": "FUT", "to_account": "SPOT", "asset": "USDT"},
    ],
}
POLICY = TreasuryPolicy.model_validate(POLICY_FIELDS)


def order(
    amount: str, src: Market = SPOT, dst: Market = FUT, asset: str = "USDT", tid: str = "tr-1"
) -> TransferOrder:
    return TransferOrder(tid, src, dst, asset, D(amount), requested_by="s6", note="need=120")


def policy(**changes: Any) -> TreasuryPolicy:
    return TreasuryPolicy.model_validate({**POLICY_FIELDS, **changes})


# ---- policy ------------------------------------------------------------------------------------
def test_policy_is_validated_and_frozen() -> None:
    assert POLICY.limits_for("USDT") is not None
    assert POLICY.limits_for("USDT").max_per_day == D("8000")  # type: ignore[union-attr]
    assert POLICY.window_ms == DAY_MS
    assert POLICY.allows(SPOT, FUT, "USDT") and POLICY.allows(FUT, SPOT, "USDT")
    assert not POLICY.allows(SPOT, FUT, "BTC")
    with pytest.raises(ValidationError, match="frozen"):
        POLICY.window_ms = 1  # type: ignore[misc]
    with pytest.raises(TypeError):
        POLICY.limits[0] = POLICY.limits[1]  # type: ignore[index]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"limits": {"USDT": {"step": 0.01, "max_per_transfer": "1", "max_per_day": "2"}}}, "not a float"),
        (
            {"limits": {"USDT": {"step": "0.01", "max_per_transfer": "3", "max_per_day": "2"}}},
            "over max_per_day",
        ),
        ({"limits": {"USDT": {"step": "0.01", "max_per_transfer": "1.001", "max_per_day": "2"}}}, "multiple"),
        (
            {"limits": {"USDT": {"step": "1E-13", "max_per_transfer": "1", "max_per_day": "2"}}},
            "finer than 12",
        ),
        (
            {"limits": {"USDT": {"step": "0.01", "max_per_transfer": "0", "max_per_day": "2"}}},
            "greater than 0",
        ),
        ({"limits": {"BTC": POLICY_FIELDS["limits"]["BTC"]}}, "USDT, which has no limits"),
        ({"routes": [{"from_account": "SPOT", "to_account": "SPOT", "asset": "USDT"}]}, "needs two wallets"),
        ({"routes": [POLICY_FIELDS["routes"][0]] * 2}, "route listed twice: SPOT→FUT USDT"),
        ({"routes": []}, "at least 1"),
        ({"window_ms": 0}, "greater than 0"),
        ({"surprise": 1}, "Extra inputs"),
    ],
)
def test_a_bad_policy_is_refused_with_the_reason(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        policy(**changes)


def test_amounts_must_be_positive_and_on_the_assets_precision() -> None:
    assert amount_problem(POLICY, "USDT", D("0.00000001")) is None
    assert amount_problem(POLICY, "USDT", D("100.10000000")) is None  # trailing zeros are not precision
    assert "positive" in (amount_problem(POLICY, "USDT", D("0")) or "")
    assert "positive" in (amount_problem(POLICY, "USDT", D("-1")) or "")
    problem = amount_problem(POLICY, "USDT", D("1.000000001"))
    assert problem == "amount 1.000000001 is not on USDT's precision (a multiple of 0.00000001)"
    assert (
        amount_problem(POLICY, "DOGE", D("1.123456789")) is None
    )  # unknown asset: the route check refuses it


def test_checks_name_the_route_or_the_limit() -> None:
    assert check_transfer(POLICY, SPOT, FUT, "USDT", D("5000")) is None
    over = check_transfer(POLICY, SPOT, FUT, "USDT", D("5000.00000001"))
    assert over is not None and over.code == "OVER_TRANSFER_LIMIT"
    assert str(over) == "OVER_TRANSFER_LIMIT: 5000.00000001 USDT is over the per-transfer limit of 5000 USDT"
    off = check_transfer(POLICY, SPOT, FUT, "BTC", D("0.1"))
    assert off is not None and off.code == "ROUTE_NOT_WHITELISTED"
    assert off.reason == (
        "route SPOT→FUT BTC is not on the whitelist (allowed: SPOT→FUT USDT, FUT→SPOT USDT)"
    )


# ---- the state machine -------------------------------------------------------------------------
def test_a_transfer_goes_pending_submitted_done_with_a_row_and_an_audit_per_state() -> None:
    pending, effects = step(None, Requested(order("1500"), T0), POLICY)
    assert (pending.status, pending.version, pending.reason) == (Status.PENDING, 1, "need=120")
    assert effects == [
        Persist(pending),
        Audit(pending, "TRANSFER_PENDING", "need=120"),
        ReserveDaily("USDT", D("1500"), D("8000"), DAY_MS),
    ]

    submitted, effects = step(pending, DailyChecked(D("0"), True, T0 + 1), POLICY)
    assert (submitted.status, submitted.version, submitted.ts, submitted.created_ts) == (
        Status.SUBMITTED,
        2,
        T0 + 1,
        T0,
    )
    assert effects == [
        Persist(submitted),
        Audit(submitted, "TRANSFER_SUBMITTED", "need=120"),
        SendTransfer(submitted),
    ]

    done, effects = step(submitted, VenueAccepted("77", "", T0 + 2), POLICY)
    assert (done.status, done.version, done.venue_transfer_id) == (Status.DONE, 3, "77")
    assert done.reason == "moved 1500 USDT SPOT→FUT (venue id 77)"
    assert effects == [
        Persist(done),
        Audit(done, "TRANSFER_DONE", done.reason),
        Reply("tr-1", Status.DONE, done.reason),
    ]


def test_over_the_per_transfer_limit_is_refused_before_any_reservation_or_send() -> None:
    refused, effects = step(None, Requested(order("5000.01"), T0), POLICY)
    assert (refused.status, refused.version) == (Status.REFUSED, 2)
    reason = "OVER_TRANSFER_LIMIT: 5000.01 USDT is over the per-transfer limit of 5000 USDT"
    assert refused.reason == reason
    assert [type(e).__name__ for e in effects] == ["Persist", "Audit", "Persist", "Audit", "Reply"]
    assert [e.transfer.status for e in effects if isinstance(e, Persist)] == [Status.PENDING, Status.REFUSED]
    assert effects[-1] == Reply("tr-1", Status.REFUSED, reason)
    assert not any(isinstance(e, ReserveDaily | SendTransfer) for e in effects)


def test_a_route_off_the_whitelist_is_refused() -> None:
    refused, effects = step(None, Requested(order("0.5", asset="BTC"), T0), POLICY)
    assert refused.status is Status.REFUSED
    assert refused.reason.startswith("ROUTE_NOT_WHITELISTED: route SPOT→FUT BTC is not on the whitelist")
    assert not any(isinstance(e, ReserveDaily | SendTransfer) for e in effects)


def test_over_the_daily_limit_is_refused_with_what_was_used() -> None:
    pending, _ = step(None, Requested(order("1500"), T0), POLICY)
    refused, effects = step(pending, DailyChecked(D("7000"), False, T0 + 1), POLICY)
    assert refused.status is Status.REFUSED
    assert refused.reason == (
        "OVER_DAILY_LIMIT: 1500 USDT would bring the last 24 h to 8500 USDT, over the daily limit "
        "of 8000 USDT (7000 USDT already moved)"
    )
    assert effects[-1] == Reply("tr-1", Status.REFUSED, refused.reason)
    assert not any(isinstance(e, SendTransfer) for e in effects)


def test_the_daily_limit_is_exact_at_the_boundary() -> None:
    pending, _ = step(None, Requested(order("0.3"), T0), POLICY)
    submitted, _ = step(pending, DailyChecked(D("7999.7"), True, T0), POLICY)  # 8000 exactly: allowed
    assert submitted.status is Status.SUBMITTED
    pending, _ = step(None, Requested(order("0.30000001"), T0), POLICY)
    refused, _ = step(pending, DailyChecked(D("7999.7"), False, T0), POLICY)
    assert refused.status is Status.REFUSED and "8000.00000001 USDT" in refused.reason


def test_a_ledger_that_disagrees_with_the_policy_is_a_bug_not_a_guess() -> None:
    pending, _ = step(None, Requested(order("1500"), T0), POLICY)
    with pytest.raises(InvalidTransition, match="reserved=True"):
        step(pending, DailyChecked(D("7000"), True, T0), POLICY)
    with pytest.raises(InvalidTransition, match="reserved=False"):
        step(pending, DailyChecked(D("0"), False, T0), POLICY)


def _submitted() -> Any:
    pending, _ = step(None, Requested(order("1500"), T0), POLICY)
    return step(pending, DailyChecked(D("0"), True, T0), POLICY)[0]


def test_a_venue_refusal_fails_the_transfer_and_gives_the_daily_hold_back() -> None:
    failed, effects = step(_submitted(), VenueRefused("free 100 (venue code -5002)", T0 + 5), POLICY)
    assert (failed.status, failed.version) == (Status.FAILED, 3)
    assert failed.reason == "VENUE_REFUSED: free 100 (venue code -5002)"
    assert effects == [
        Persist(failed),
        Audit(failed, "TRANSFER_FAILED", failed.reason),
        ReleaseDaily("USDT", D("1500")),
        Reply("tr-1", Status.FAILED, failed.reason),
    ]


def test_an_unknown_outcome_stays_submitted_and_asks_for_no_send() -> None:
    submitted = _submitted()
    same, effects = step(submitted, VenueUnknown("timeout", T0 + 5), POLICY)
    assert same == submitted  # no state change: no new version, no row
    (audit, reply) = effects
    assert isinstance(audit, Audit) and audit.kind == "TRANSFER_OUTCOME_UNKNOWN"
    assert reply == Reply("tr-1", Status.SUBMITTED, audit.message)
    assert "not re-sent" in reply.message and "timeout" in reply.message


def test_versions_continue_after_rows_an_upstream_service_wrote() -> None:
    pending, effects = step(None, Requested(order("10"), T0, base_version=1), POLICY)
    assert pending.version == 2 and effects[0] == Persist(pending)


@pytest.mark.parametrize(
    ("state_of", "event"),
    [
        ("none", DailyChecked(D("0"), True, T0)),
        ("none", VenueAccepted("1", "", T0)),
        ("pending", VenueAccepted("1", "", T0)),
        ("pending", Requested(order("1"), T0)),
        ("submitted", DailyChecked(D("0"), True, T0)),
        ("done", VenueAccepted("2", "", T0)),
        ("done", VenueRefused("x", T0)),
        ("done", VenueUnknown("x", T0)),
    ],
)
def test_impossible_events_raise(state_of: str, event: Any) -> None:
    pending, _ = step(None, Requested(order("1"), T0), POLICY)
    submitted, _ = step(pending, DailyChecked(D("0"), True, T0), POLICY)
    done, _ = step(submitted, VenueAccepted("1", "", T0), POLICY)
    state = {"none": None, "pending": pending, "submitted": submitted, "done": done}[state_of]
    with pytest.raises(InvalidTransition):
        step(state, event, POLICY)


@pytest.mark.parametrize(
    ("status", "answer"),
    [
        ("PENDING", None),  # S6 wrote it, nothing was sent: carry on
        ("APPROVED", None),  # S12 approved it
        ("SUBMITTED", Status.SUBMITTED),  # the venue may have moved money: never again
        ("SENT", Status.SUBMITTED),
        ("DONE", Status.DONE),
        ("FAILED", Status.FAILED),
        ("REFUSED", Status.REFUSED),
        ("REJECTED", Status.REFUSED),  # S12 said no
        ("SOMETHING_NEW", Status.REFUSED),  # unknown: never executed
    ],
)
def test_an_earlier_record_of_the_id_decides_whether_to_carry_on(status: str, answer: Status | None) -> None:
    reply = answer_from_record("tr-1", status, "why")
    assert (reply and reply.result) == answer
    if reply is not None and answer is Status.SUBMITTED:
        assert "not re-sent" in reply.message
    if status == "REJECTED":
        assert reply is not None and reply.message.startswith("REJECTED:")


# ---- the wire contract -------------------------------------------------------------------------
def test_the_request_refuses_floats_and_same_wallets_naming_the_field() -> None:
    body = {"transfer_id": "tr-1", "from_account": "SPOT", "to_account": "FUT", "asset": "USDT"}
    with pytest.raises(ValidationError) as err:
        TransferRequest.model_validate({**body, "amount": 0.1})
    assert err.value.errors()[0]["loc"] == ("amount",) and "float" in err.value.errors()[0]["msg"]
    with pytest.raises(ValidationError) as err:
        TransferRequest.model_validate({**body, "to_account": "SPOT", "amount": "1"})
    assert err.value.errors()[0]["loc"] == ("to_account",)
    assert TransferRequest.model_validate({**body, "amount": 5}).amount == D(5)


def test_the_fingerprint_ignores_how_the_amount_is_spelled() -> None:
    body = {"transfer_id": "tr-1", "from_account": "SPOT", "to_account": "FUT", "asset": "USDT"}
    a = TransferRequest.model_validate({**body, "amount": "100"})
    b = TransferRequest.model_validate({**body, "amount": "100.000"})
    c = TransferRequest.model_validate({**body, "amount": "100.00000001"})
    assert a.fingerprint() == b.fingerprint() != c.fingerprint()


def test_the_response_uses_the_spec_names() -> None:
    resp = TransferResponse(transfer_id="tr-1", result=Status.DONE, message="ok")
    assert resp.model_dump(mode="json") == {"TransferID": "tr-1", "Result": "DONE", "Message": "ok"}
    assert TransferResponse.model_validate({"TransferID": "x", "Result": "REFUSED", "Message": "m"}).final
