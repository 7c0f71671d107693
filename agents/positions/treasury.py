"""Auto-treasury (spec S6.2, B8): top the futures wallet up from spot, as a pure function.

``need = max(0, min_free_fut − free_fut)``, rounded up to the transfer step. When spot has that
much free, the answer is a PENDING ``treasury_transfers`` request for S12 to approve and S1 to
carry out; when the need is zero, or spot cannot cover it, there is no request (and the reason).

The ``transfer_id`` is derived from the route (SPOT → FUT, asset) and the time bucket of the
check, not from the balances: two checks in one bucket — a redelivery, or a second look before
the first transfer landed — must name the same transfer, or the wallet would be topped up twice.
S1 deduplicates on the id, and the table (ReplacingMergeTree on version) keeps one row per id.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from agents.positions.config import TreasuryRule
from chimera.model import Market, TransferId, round_to_step, stable_hash

REQUESTED_BY = "s6-auto"
ZERO = Decimal(0)


def transfer_id_for(from_account: Market, to_account: Market, asset: str, bucket_ts: int) -> TransferId:
    return TransferId(f"s6-{stable_hash('auto-treasury', from_account, to_account, asset, bucket_ts)}")


@dataclass(frozen=True, slots=True)
class TransferRequest:
    transfer_id: TransferId
    asset: str
    amount: Decimal
    need: Decimal
    bucket_ts: int
    created_ts: int
    from_account: Market = Market.SPOT
    to_account: Market = Market.FUT

    @property
    def reason(self) -> str:
        return f"S6 auto: need={self.need} {self.asset}"

    def row(self) -> dict[str, Any]:
        """The first treasury_transfers row (version 0, PENDING); S1 writes the later versions."""
        return {
            "transfer_id": self.transfer_id,
            "version": 0,
            "status": "PENDING",
            "from_account": str(self.from_account),
            "to_account": str(self.to_account),
            "asset": self.asset,
            "amount": self.amount,
            "reason": self.reason,
            "requested_by": REQUESTED_BY,
            "approved_by": "",
            "venue_transfer_id": "",
            "created_ts": self.created_ts,
            "ts": self.created_ts,
        }


@dataclass(frozen=True, slots=True)
class TreasuryDecision:
    need: Decimal
    request: TransferRequest | None
    why: Literal["TRANSFER", "NO_NEED", "SPOT_SHORT"]


def auto_transfer(free_fut: Decimal, free_spot: Decimal, rule: TreasuryRule, ts: int) -> TreasuryDecision:
    """Decide the top-up at event time ``ts`` from the two wallets' free balances of ``rule.asset``."""
    need = max(ZERO, rule.min_free_fut - free_fut)
    if need == 0:
        return TreasuryDecision(need, None, "NO_NEED")
    amount = round_to_step(need, rule.step, "up")
    if free_spot < amount:
        return TreasuryDecision(need, None, "SPOT_SHORT")
    bucket = ts - ts % rule.bucket_ms
    tid = transfer_id_for(Market.SPOT, Market.FUT, rule.asset, bucket)
    return TreasuryDecision(need, TransferRequest(tid, rule.asset, amount, need, bucket, ts), "TRANSFER")
