"""The wire contract of ``POST /xchg/treasury/transfer``: the request body and TransferResponse.

The response's JSON names are the spec's (``TransferID``, ``Result``, ``Message``). Money travels
as a decimal string; a JSON number with a fraction is refused (it has been a float).
"""

from __future__ import annotations

import json
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationInfo, field_validator

from agents.connectors.treasury.machine import Status, TransferOrder
from agents.connectors.treasury.policy import Amount, AssetName
from chimera.model import Market, stable_hash

# an id that is also a clean Redis key part and a Kafka key: no spaces, no braces
TRANSFER_ID_PATTERN = r"^[A-Za-z0-9._:-]{1,100}$"
TransferIdField = Annotated[str, StringConstraints(pattern=TRANSFER_ID_PATTERN)]
Text = Annotated[str, StringConstraints(max_length=500)]


class TransferRequest(BaseModel):
    """``transfer_id`` may instead come in the Idempotency-Key header (both: they must agree)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    transfer_id: TransferIdField | None = None
    from_account: Market
    to_account: Market
    asset: AssetName
    amount: Amount
    requested_by: Text = ""
    approved_by: Text = ""
    reason: Text = ""

    @field_validator("to_account")
    @classmethod
    def _two_wallets(cls, value: Market, info: ValidationInfo) -> Market:
        if info.data.get("from_account") is value:
            raise ValueError(f"to_account must differ from from_account ({value})")
        return value

    def fingerprint(self) -> str:
        """Same body → same fingerprint, however the amount was spelled (``"100"`` = ``"100.00"``)."""
        body = self.model_dump(mode="json")
        body["amount"] = format(self.amount.normalize(), "f")
        return stable_hash(json.dumps(body, sort_keys=True), length=32)

    def order(self) -> TransferOrder:
        if self.transfer_id is None:
            raise ValueError("the request has no transfer_id yet")
        return TransferOrder(
            transfer_id=self.transfer_id,
            from_account=self.from_account,
            to_account=self.to_account,
            asset=self.asset,
            amount=self.amount,
            requested_by=self.requested_by,
            approved_by=self.approved_by,
            note=self.reason,
        )


class TransferResponse(BaseModel):
    """``TransferResponse{TransferID, Result, Message}``; ``Result`` is the transfer's status.

    DONE / FAILED / REFUSED are final (a repeat gets the same answer); SUBMITTED means the venue
    was asked but the outcome is not known yet.
    """

    model_config = ConfigDict(frozen=True, populate_by_name=True, serialize_by_alias=True)

    transfer_id: str = Field(alias="TransferID")
    result: Status = Field(alias="Result")
    message: str = Field(alias="Message")

    @property
    def final(self) -> bool:
        return self.result.is_final
