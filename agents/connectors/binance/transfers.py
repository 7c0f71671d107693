"""Spot ↔ USDT-M wallet transfers, idempotent by our ``transfer_id``.

Binance's universal transfer (``POST /sapi/v1/asset/transfer``) takes no client id, so the venue
cannot refuse a repeat for us. Guards, in order:

1. the caller's idempotency record (DESIGN §1.3: ``transfer_id`` is written before the send and
   marked done after) — the guard that survives restarts;
2. this book: within the process a ``transfer_id`` is sent at most once; asking again returns the
   recorded result, or re-runs the resolution below, never a second send;
3. an unknown outcome (timeout, 5xx) is resolved from the transfer history
   (``GET /sapi/v1/asset/transfer`` via ccxt ``fetch_transfers``): exactly one row of the same
   type, asset and amount at or after the send → that transfer; none or several →
   :class:`OutcomeUnknown` (history can lag, and equal transfers cannot be told apart).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import ccxt

from agents.connectors.binance.errors import is_unknown_outcome
from agents.connectors.binance.outcome import ResolvePolicy
from agents.connectors.binance.parse import dec
from agents.connectors.port import OutcomeUnknown, TransferResult
from chimera.model import Clock, Market

ACCOUNT = {Market.SPOT: "spot", Market.FUT: "linear"}  # ccxt's names for MAIN / UMFUTURE
WALLET_ID = {Market.SPOT: "MAIN", Market.FUT: "UMFUTURE"}  # Binance's, as in type=MAIN_UMFUTURE


@dataclass(frozen=True, slots=True)
class _Sent:
    asset: str
    amount: str
    from_wallet: Market
    to_wallet: Market
    sent_ms: int


class TransferBook:
    def __init__(self, client: Any, clock: Clock, policy: ResolvePolicy) -> None:
        self._client = client
        self._clock = clock
        self._policy = policy
        self._sent: dict[str, _Sent] = {}
        self._done: dict[str, TransferResult] = {}

    async def transfer(
        self, asset: str, amount: str, from_wallet: Market, to_wallet: Market, transfer_id: str
    ) -> TransferResult:
        if transfer_id in self._done:
            return self._done[transfer_id]
        if transfer_id in self._sent:
            return await self._resolve(transfer_id, "asked again after an unknown outcome")
        sent = _Sent(asset, amount, from_wallet, to_wallet, self._clock.now_ms())
        self._sent[transfer_id] = sent
        try:
            raw = await self._client.transfer(asset, amount, ACCOUNT[from_wallet], ACCOUNT[to_wallet])
        except ccxt.BaseError as exc:
            if not is_unknown_outcome(exc):
                del self._sent[transfer_id]  # refused: nothing moved, the id may be used again
                raise
            return await self._resolve(transfer_id, type(exc).__name__)
        return self._record(transfer_id, sent, str(raw["info"]["tranId"]), "")

    def _record(self, transfer_id: str, sent: _Sent, tran_id: str, message: str) -> TransferResult:
        result = TransferResult(
            transfer_id=transfer_id,
            venue_tran_id=tran_id,
            asset=sent.asset,
            amount=dec(sent.amount),
            from_wallet=sent.from_wallet,
            to_wallet=sent.to_wallet,
            ok=True,
            message=message,
        )
        self._done[transfer_id] = result
        return result

    async def _resolve(self, transfer_id: str, cause: str) -> TransferResult:
        sent = self._sent[transfer_id]
        since = sent.sent_ms - self._policy.skew_margin_ms
        # Binance refuses parameters it does not read (-1104): pass its own ``type`` only
        params = {"type": f"{WALLET_ID[sent.from_wallet]}_{WALLET_ID[sent.to_wallet]}"}
        try:
            rows = await self._client.fetch_transfers(sent.asset, since, None, params)
        except ccxt.BaseError:
            rows = None
        if rows is not None:
            claimed = {r.venue_tran_id for r in self._done.values()}
            matches = [
                r["info"]
                for r in rows
                if r["info"].get("asset") == sent.asset
                and dec(r["info"]["amount"]) == dec(sent.amount)
                and str(r["info"]["tranId"]) not in claimed
            ]
            if len(matches) == 1:
                tran_id = str(matches[0]["tranId"])
                return self._record(transfer_id, sent, tran_id, f"resolved from transfer history ({cause})")
            cause = f"{cause}; {len(matches)} matching rows in the transfer history"
        raise OutcomeUnknown(f"transfer {transfer_id}: outcome unknown ({cause}); not re-sent", "unresolved")
