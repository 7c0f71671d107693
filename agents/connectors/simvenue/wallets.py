"""SPOT and FUT wallets (free/locked per asset), order reservations and idempotent transfers."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

from agents.connectors.port import Balance, InsufficientBalance, TransferResult, VenueError
from chimera.model import Market

ZERO = Decimal(0)
USDT_STEP = Decimal("0.00000001")


def money(value: Decimal) -> Decimal:
    """Round an amount of quote asset to 8 decimals, half-even: the venue's bookkeeping unit."""
    return value.quantize(USDT_STEP, rounding=ROUND_HALF_EVEN)


@dataclass(slots=True)
class Reservation:
    """Funds locked for an open order: ``per_unit`` of ``asset`` per unit of unfilled quantity.

    The two legs of an OCO share one reservation (the list locks its funds once); it is released
    when its last holder ends.
    """

    market: Market
    asset: str
    per_unit: Decimal
    qty: Decimal
    holders: int = 1

    @property
    def amount(self) -> Decimal:
        return self.per_unit * self.qty


class Wallets:
    """Per-market, per-asset free and locked amounts. Amounts never go below zero silently."""

    def __init__(self, initial: dict[Market, dict[str, Decimal]]) -> None:
        self._free: dict[tuple[Market, str], Decimal] = {}
        self._locked: dict[tuple[Market, str], Decimal] = {}
        for market in (Market.SPOT, Market.FUT):
            for asset, amount in sorted(initial.get(market, {}).items()):
                self._free[(market, asset)] = amount
        self._transfers: dict[str, TransferResult] = {}

    def free(self, market: Market, asset: str) -> Decimal:
        return self._free.get((market, asset), ZERO)

    def locked(self, market: Market, asset: str) -> Decimal:
        return self._locked.get((market, asset), ZERO)

    def balances(self, market: Market) -> dict[str, Balance]:
        assets = sorted({a for m, a in (*self._free, *self._locked) if m is market})
        return {a: Balance(a, self.free(market, a), self.locked(market, a)) for a in assets}

    def add_free(self, market: Market, asset: str, delta: Decimal) -> None:
        self._free[(market, asset)] = self.free(market, asset) + delta

    def lock(self, market: Market, asset: str, amount: Decimal) -> None:
        """Move ``amount`` from free to locked; refuse when free does not cover it."""
        free = self.free(market, asset)
        if amount > free:
            raise InsufficientBalance(
                f"{market} {asset}: needs {amount}, free {free}",
                code=-2019 if market is Market.FUT else -2010,
            )
        self._free[(market, asset)] = free - amount
        self._locked[(market, asset)] = self.locked(market, asset) + amount

    def unlock(self, market: Market, asset: str, amount: Decimal) -> None:
        self._locked[(market, asset)] = self.locked(market, asset) - amount
        self._free[(market, asset)] = self.free(market, asset) + amount

    def burn_locked(self, market: Market, asset: str, amount: Decimal) -> None:
        """Remove locked funds for good (isolated margin lost to a liquidation)."""
        self._locked[(market, asset)] = self.locked(market, asset) - amount

    def reserve(self, market: Market, asset: str, per_unit: Decimal, qty: Decimal) -> Reservation:
        res = Reservation(market, asset, per_unit, qty)
        self.lock(market, asset, res.amount)
        return res

    def consume(self, res: Reservation, qty: Decimal) -> None:
        """Free the part of a reservation that covered ``qty`` now being filled."""
        take = min(qty, res.qty)
        self.unlock(res.market, res.asset, res.per_unit * take)
        res.qty -= take

    def drop_holder(self, res: Reservation) -> None:
        """One order holding ``res`` ended; the last one out releases what is left."""
        res.holders -= 1
        if res.holders == 0 and res.qty > 0:
            self.unlock(res.market, res.asset, res.amount)
            res.qty = ZERO

    def transfer(
        self, asset: str, amount: Decimal, from_wallet: Market, to_wallet: Market, transfer_id: str
    ) -> TransferResult:
        """Move free funds between wallets; a repeated ``transfer_id`` returns the first result."""
        done = self._transfers.get(transfer_id)
        if done is not None:
            return done
        if amount <= 0:
            raise VenueError(f"transfer amount must be positive, got {amount}", code=-1100)
        if from_wallet is to_wallet:
            raise VenueError(f"transfer from {from_wallet} to itself", code=-1100)
        free = self.free(from_wallet, asset)
        if amount > free:
            raise InsufficientBalance(
                f"transfer {transfer_id}: {amount} {asset} from {from_wallet}, free {free}", code=-5002
            )
        self.add_free(from_wallet, asset, -amount)
        self.add_free(to_wallet, asset, amount)
        result = TransferResult(
            transfer_id=transfer_id,
            venue_tran_id=str(len(self._transfers) + 1),
            asset=asset,
            amount=amount,
            from_wallet=from_wallet,
            to_wallet=to_wallet,
            ok=True,
        )
        self._transfers[transfer_id] = result
        return result
