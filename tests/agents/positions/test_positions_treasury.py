"""Auto-treasury as a pure function: need = max(0, min_free_fut - free_fut), on the step, only when
spot can cover it; one transfer_id per route and time bucket; the row is treasury_transfers'."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from positions_kit import T0, D

from agents.positions.config import TreasuryRule
from agents.positions.treasury import auto_transfer, transfer_id_for
from chimera.model import Market

RULE = TreasuryRule(min_free_fut=D("500"), step=D("0.01"), bucket_ms=3_600_000)
DDL = Path(__file__).resolve().parents[3] / "infra" / "ddl" / "0001_trading.sql"


@pytest.mark.parametrize(
    ("free_fut", "free_spot", "why", "need", "amount"),
    [
        ("320.004", "1000", "TRANSFER", "179.996", "180.00"),  # rounded up to the step
        ("0", "500", "TRANSFER", "500", "500.00"),  # spot has exactly enough
        ("-12.5", "1000", "TRANSFER", "512.5", "512.50"),  # a wallet under water needs more
        ("499.99", "0.01", "TRANSFER", "0.01", "0.01"),
        ("320", "179.99", "SPOT_SHORT", "180", None),
        ("500", "1000", "NO_NEED", "0", None),
        ("750.5", "0", "NO_NEED", "0", None),
    ],
)
def test_need_and_amount(free_fut: str, free_spot: str, why: str, need: str, amount: str | None) -> None:
    d = auto_transfer(D(free_fut), D(free_spot), RULE, T0)
    assert (d.why, d.need) == (why, D(need))
    assert (None if d.request is None else d.request.amount) == (None if amount is None else D(amount))


def test_transfer_id_depends_on_route_and_bucket_not_on_balances() -> None:
    a = auto_transfer(D("320"), D("1000"), RULE, T0 + 5).request
    b = auto_transfer(D("100"), D("2000"), RULE, T0 + 3_599_999 - T0 % 3_600_000).request
    c = auto_transfer(D("320"), D("1000"), RULE, T0 + 3_600_000).request
    assert a is not None and b is not None and c is not None
    assert a.transfer_id == b.transfer_id != c.transfer_id
    assert a.transfer_id == transfer_id_for(Market.SPOT, Market.FUT, "USDT", T0 - T0 % 3_600_000)
    assert re.fullmatch(r"^[A-Za-z0-9._:-]{1,100}$", a.transfer_id)  # S1's TransferRequest pattern
    assert a.transfer_id != transfer_id_for(Market.FUT, Market.SPOT, "USDT", a.bucket_ts)


def test_row_has_exactly_the_columns_of_treasury_transfers() -> None:
    req = auto_transfer(D("320.004"), D("1000"), RULE, T0).request
    assert req is not None
    row = req.row()
    ddl = DDL.read_text()
    body = ddl[ddl.index("CREATE TABLE IF NOT EXISTS treasury_transfers") :].split(")\nENGINE")[0]
    columns = re.findall(r"^\s+(\w+) \w", body, flags=re.M)
    assert list(row) == columns
    assert (row["status"], row["version"], row["from_account"], row["to_account"]) == (
        "PENDING",
        0,
        "SPOT",
        "FUT",
    )
    assert row["reason"] == "S6 auto: need=179.996 USDT" and row["amount"] == D("180.00")
