"""S1 treasury transfers (spec A/S1 item 2, flow B8): ``POST /xchg/treasury/transfer``.

| module | job |
|---|---|
| ``policy.py`` | pure: TreasuryPolicy (limits per asset, route whitelist), the checks and their reasons |
| ``machine.py`` | pure: the state machine PENDING → SUBMITTED → DONE / FAILED, or REFUSED |
| ``models.py`` | the wire contract: TransferRequest, TransferResponse{TransferID, Result, Message} |
| ``records.py`` | the transfer_id's idempotency record in Redis |
| ``daily.py`` | the rolling-day ledger in Redis (atomic check-and-hold across routes) |
| ``journal.py`` | treasury_transfers rows in ClickHouse through the batching sink |
| ``audit.py`` | ops.events audit records to Kafka |
| ``service.py`` | TreasuryService: the shell carrying out the machine's effects |
| ``http.py`` | the FastAPI router and app factory |
| ``factory.py`` | wiring from Settings |
"""

from agents.connectors.treasury.machine import Status, Transfer, TransferOrder, step
from agents.connectors.treasury.models import TransferRequest, TransferResponse
from agents.connectors.treasury.policy import AssetLimits, Refusal, Route, TreasuryPolicy

__all__ = [
    "AssetLimits",
    "Refusal",
    "Route",
    "Status",
    "Transfer",
    "TransferOrder",
    "TransferRequest",
    "TransferResponse",
    "TreasuryPolicy",
    "step",
]
