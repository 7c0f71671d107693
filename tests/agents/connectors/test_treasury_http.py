# ruff: noqa: F811 (pytest fixtures are imported, then named as test arguments)
"""``POST /xchg/treasury/transfer`` through the FastAPI app (httpx's ASGI transport), on the real stack."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal as D
from typing import Any

import httpx
import pytest
from treasury_fixtures import Rig, RigFactory, body, make_rig, treasury_databases  # noqa: F401

from agents.connectors.port import OutcomeUnknown
from agents.connectors.treasury.http import PATH, create_app
from chimera.model import Market


@pytest.fixture
async def api(make_rig: RigFactory) -> AsyncIterator[tuple[Rig, httpx.AsyncClient]]:
    rig = await make_rig()
    transport = httpx.ASGITransport(app=create_app(rig.service))
    async with httpx.AsyncClient(transport=transport, base_url="http://s1") as client:
        yield rig, client


async def test_a_transfer_answers_transfer_response_and_a_repeat_the_same(
    api: tuple[Rig, httpx.AsyncClient],
) -> None:
    rig, client = api
    first = await client.post(PATH, json=body("h-1"), headers={"Idempotency-Key": "h-1"})
    assert first.status_code == 200
    assert first.json() == {
        "TransferID": "h-1",
        "Result": "DONE",
        "Message": "moved 1500 USDT SPOT→FUT (venue id 1)",
    }
    again = await client.post(PATH, json=body("h-1"))
    assert (again.status_code, again.json()) == (200, first.json())
    assert rig.venue.calls == ["h-1"]
    assert await rig.balance(Market.FUT) == D("11500")


async def test_twenty_concurrent_posts_execute_once(api: tuple[Rig, httpx.AsyncClient]) -> None:
    rig, client = api
    replies = await asyncio.gather(
        *(
            client.post(PATH, json=body("h-20", "0.00000001"), headers={"Idempotency-Key": "h-20"})
            for _ in range(20)
        )
    )
    assert {r.status_code for r in replies} == {200}
    assert {r.json()["Result"] for r in replies} == {"DONE"}
    assert rig.venue.calls == ["h-20"]
    assert await rig.balance(Market.SPOT) == D("9999.99999999")
    assert await rig.balance(Market.FUT) == D("10000.00000001")


async def test_refusals_are_answers_naming_the_limit(api: tuple[Rig, httpx.AsyncClient]) -> None:
    rig, client = api
    reply = await client.post(PATH, json=body("h-big", "6000"))
    assert reply.status_code == 200
    assert reply.json() == {
        "TransferID": "h-big",
        "Result": "REFUSED",
        "Message": "OVER_TRANSFER_LIMIT: 6000 USDT is over the per-transfer limit of 5000 USDT",
    }
    assert rig.venue.calls == []


async def test_an_unknown_outcome_is_202(api: tuple[Rig, httpx.AsyncClient]) -> None:
    rig, client = api
    rig.venue.after = OutcomeUnknown("timeout", "unresolved")
    reply = await client.post(PATH, json=body("h-lost"))
    assert reply.status_code == 202 and reply.json()["Result"] == "SUBMITTED"


async def test_a_reused_id_with_another_body_is_409(api: tuple[Rig, httpx.AsyncClient]) -> None:
    _, client = api
    assert (await client.post(PATH, json=body("h-c", "10"))).status_code == 200
    reply = await client.post(PATH, json=body("h-c", "11"))
    assert reply.status_code == 409 and "h-c" in reply.json()["detail"]


def _loc(reply: httpx.Response) -> list[Any]:
    assert reply.status_code == 422, reply.text
    detail = reply.json()["detail"]
    return [d["loc"] for d in detail]


@pytest.mark.parametrize(
    ("change", "loc", "words"),
    [
        ({"amount": "-5"}, ["body", "amount"], "greater than 0"),
        ({"amount": "0"}, ["body", "amount"], "greater than 0"),
        ({"amount": 12.5}, ["body", "amount"], "not a float"),
        ({"amount": "ten"}, ["body", "amount"], "decimal"),
        ({"amount": "1.000000001"}, ["body", "amount"], "not on USDT's precision"),
        ({"asset": None}, ["body", "asset"], ""),
        ({"asset": "usdt"}, ["body", "asset"], "pattern"),
        ({"from_account": "MARGIN"}, ["body", "from_account"], "SPOT"),
        ({"to_account": "SPOT"}, ["body", "to_account"], "must differ"),
        ({"transfer_id": "has space"}, ["body", "transfer_id"], "pattern"),
        ({"transfer_id": None}, ["body", "transfer_id"], "Idempotency-Key"),
        ({"surprise": 1}, ["body", "surprise"], "Extra inputs"),
    ],
)
async def test_an_invalid_body_is_422_naming_the_field(
    api: tuple[Rig, httpx.AsyncClient], change: dict[str, Any], loc: list[str], words: str
) -> None:
    rig, client = api
    payload = {**body("h-bad"), **change}
    payload = {k: v for k, v in payload.items() if v is not None}
    reply = await client.post(PATH, json=payload)
    assert _loc(reply) == [loc]
    assert words in reply.json()["detail"][0]["msg"]
    assert rig.venue.calls == []
    assert await rig.service.records.get("h-bad") is None  # nothing claimed


async def test_an_idempotency_key_that_differs_from_the_body_is_422(
    api: tuple[Rig, httpx.AsyncClient],
) -> None:
    rig, client = api
    reply = await client.post(PATH, json=body("h-a"), headers={"Idempotency-Key": "h-b"})
    assert _loc(reply) == [["header", "Idempotency-Key"]]
    assert "differs from the body's transfer_id" in reply.json()["detail"][0]["msg"]
    assert rig.venue.calls == []


async def test_a_body_that_is_not_json_is_422(api: tuple[Rig, httpx.AsyncClient]) -> None:
    _, client = api
    reply = await client.post(PATH, content=b"{nope", headers={"content-type": "application/json"})
    assert reply.status_code == 422


async def test_the_endpoint_is_in_the_openapi_document(api: tuple[Rig, httpx.AsyncClient]) -> None:
    _, client = api
    doc = (await client.get("/openapi.json")).json()
    op = doc["paths"][PATH]["post"]
    assert {"200", "202", "422"} <= set(op["responses"])
    schemas = doc["components"]["schemas"]
    assert set(schemas["TransferResponse"]["properties"]) == {"TransferID", "Result", "Message"}
