"""S6's scheduled auto-treasury check (spec S6.2, B8): read the free balances, decide, claim the
transfer, queue the PENDING ``treasury_transfers`` row (S12 approves it later, S1 carries it out).

Idempotent twice over. The ``transfer_id`` names the route and the time bucket, not the balances
(:mod:`agents.positions.treasury`), and :meth:`PositionService.treasury` claims it in Redis: a
second look in the same bucket, a redelivered check or a second worker gets the same id and no
row unless it asks for the very amount claimed. That one case is given the row again, because a
crash between the claim and the insert would otherwise lose it; this process writes each id once,
and a restarted one at most once more, which the table (ReplacingMergeTree on ``transfer_id`` by
``version``) folds into the one PENDING row.

Balances come from a :class:`Wallets` source: a venue port (Binance through ccxt, or a SimVenue).
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Protocol

from agents.connectors.port import Venue
from agents.positions.policy import Policy
from agents.positions.service import PositionService, TreasuryOutcome
from agents.shell import RowQueue
from chimera.model import Market

log = logging.getLogger(__name__)

TABLE = "treasury_transfers"
TOPIC = "s6.treasury"  # the sink's name for these rows' source: no input record makes them


class Wallets(Protocol):
    async def free(self, market: Market, asset: str) -> Decimal: ...


class VenueWallets:
    """The free balances a venue port reports (an asset the wallet does not hold is 0)."""

    def __init__(self, venue: Venue) -> None:
        self.venue = venue

    async def free(self, market: Market, asset: str) -> Decimal:
        balance = (await self.venue.balances(market)).get(asset)
        return Decimal(0) if balance is None else balance.free


class AutoTreasury:
    def __init__(self, service: PositionService, wallets: Wallets, rows: RowQueue) -> None:
        self.service = service
        self.wallets = wallets
        self.rows = rows
        self.written: set[str] = set()  # transfer_ids this process has queued

    async def check(self, ts: int, policy: Policy | None = None) -> TreasuryOutcome:
        """One check at event time ``ts`` by one policy (the agent's read of the active bundle)."""
        policy = policy or self.service.policy
        rule = policy.cfg.treasury
        free_fut = await self.wallets.free(Market.FUT, rule.asset)
        free_spot = await self.wallets.free(Market.SPOT, rule.asset)
        outcome = await self.service.treasury(free_fut, free_spot, ts, policy)
        req, row = outcome.decision.request, outcome.row
        if outcome.decision.why == "SPOT_SHORT":
            log.warning("S6 auto-treasury: FUT needs %s %s, SPOT has %s free", outcome.decision.need,
                        rule.asset, free_spot)  # fmt: skip
        if req is None or row is None or req.transfer_id in self.written:
            return outcome
        # offsets name the bucket: a batch written again is the same batch
        await self.rows.add([(TABLE, row)], TOPIC, 0, req.bucket_ts // rule.bucket_ms)
        self.rows.flush(force=True)  # S12 should see a request at once, not at the next commit
        self.written.add(req.transfer_id)
        log.info("S6 auto-treasury: %s PENDING, %s %s SPOT -> FUT", req.transfer_id, req.amount, rule.asset)
        return outcome
