"""The treasury policy: which routes may move money, how much per transfer and per rolling day.

Pure: validated once when loaded (a bad policy is refused at start, not at the first transfer) and
frozen. Limits are per asset and count every route together: a daily cap is a blast-radius limit
against a runaway caller, and moving money back and forth is still moving it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, model_validator

from chimera.model import Market

DAY_MS = 86_400_000
MAX_SCALE = 12  # treasury_transfers.amount is Decimal(38, 12): a finer step could not be recorded

AssetName = Annotated[str, StringConstraints(pattern=r"^[A-Z0-9]{1,20}$")]


def _exact(value: object) -> object:
    # a float has already lost the amount it was meant to say (0.1 is not 0.1)
    if isinstance(value, float):
        raise ValueError('money is given as a decimal string (e.g. "0.1"), not a float')
    return value


Amount = Annotated[Decimal, BeforeValidator(_exact), Field(gt=0, allow_inf_nan=False)]


class AssetLimits(BaseModel):
    """One asset's precision and caps."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    asset: AssetName
    step: Amount = Field(description="the smallest amount the venue moves, e.g. 0.00000001")
    max_per_transfer: Amount
    max_per_day: Amount = Field(description="over any rolling window of TreasuryPolicy.window_ms")

    @model_validator(mode="after")
    def _consistent(self) -> AssetLimits:
        exponent = self.step.normalize().as_tuple().exponent
        if isinstance(exponent, int) and -exponent > MAX_SCALE:
            raise ValueError(f"{self.asset}: step {self.step} is finer than {MAX_SCALE} decimals")
        for name in ("max_per_transfer", "max_per_day"):
            if not on_step(getattr(self, name), self.step):
                value = plain(getattr(self, name))
                raise ValueError(f"{self.asset}: {name} {value} is not a multiple of {plain(self.step)}")
        if self.max_per_transfer > self.max_per_day:
            raise ValueError(
                f"{self.asset}: max_per_transfer {self.max_per_transfer} "
                f"is over max_per_day {self.max_per_day}"
            )
        return self


class Route(BaseModel):
    """A whitelisted direction for one asset."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    from_account: Market
    to_account: Market
    asset: AssetName

    @model_validator(mode="after")
    def _two_wallets(self) -> Route:
        if self.from_account is self.to_account:
            raise ValueError(f"route {self.from_account}→{self.to_account}: a transfer needs two wallets")
        return self

    def __str__(self) -> str:
        return f"{self.from_account}→{self.to_account} {self.asset}"


class TreasuryPolicy(BaseModel):
    """``limits`` may be given as ``{asset: {step, max_per_transfer, max_per_day}}``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    limits: tuple[AssetLimits, ...] = Field(min_length=1)
    routes: tuple[Route, ...] = Field(min_length=1)
    window_ms: int = Field(DAY_MS, gt=0, description="the rolling window of max_per_day")

    @model_validator(mode="before")
    @classmethod
    def _limits_by_asset(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and isinstance(data.get("limits"), Mapping):
            by_asset = data["limits"]
            rows = [{"asset": a, **v} if isinstance(v, Mapping) else v for a, v in by_asset.items()]
            return {**data, "limits": rows}
        return data

    @model_validator(mode="after")
    def _consistent(self) -> TreasuryPolicy:
        assets = [lim.asset for lim in self.limits]
        dup = sorted({a for a in assets if assets.count(a) > 1})
        if dup:
            raise ValueError(f"limits given twice for {', '.join(dup)}")
        routes = [str(r) for r in self.routes]
        dup = sorted({r for r in routes if routes.count(r) > 1})
        if dup:
            raise ValueError(f"route listed twice: {', '.join(dup)}")
        missing = sorted({r.asset for r in self.routes} - set(assets))
        if missing:
            raise ValueError(f"whitelisted routes move {', '.join(missing)}, which has no limits")
        return self

    def limits_for(self, asset: str) -> AssetLimits | None:
        return next((lim for lim in self.limits if lim.asset == asset), None)

    def allows(self, from_account: Market, to_account: Market, asset: str) -> bool:
        return any(
            (r.from_account, r.to_account, r.asset) == (from_account, to_account, asset) for r in self.routes
        )


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why the policy refuses a transfer: ``code`` for machines, ``reason`` naming the limit or route."""

    code: str
    reason: str

    def __str__(self) -> str:
        return f"{self.code}: {self.reason}"


def plain(value: Decimal) -> str:
    """An amount as people write it: ``0.00000001``, never ``1E-8``; ``5000``, not ``5000.00000000``."""
    return format(value.normalize(), "f")


def on_step(amount: Decimal, step: Decimal) -> bool:
    try:
        return amount % step == 0
    except InvalidOperation:  # more digits than the context holds: certainly not a clean amount
        return False


def amount_problem(policy: TreasuryPolicy, asset: str, amount: Decimal) -> str | None:
    """Say what is wrong with an amount itself (not positive, finer than the asset's precision).

    An asset the policy does not know has no precision to check: the route check refuses it.
    """
    if not amount.is_finite() or amount <= 0:
        return f"amount must be a positive number, got {plain(amount)}"
    limits = policy.limits_for(asset)
    if limits is not None and not on_step(amount, limits.step):
        return f"amount {plain(amount)} is not on {asset}'s precision (a multiple of {plain(limits.step)})"
    return None


def check_transfer(
    policy: TreasuryPolicy, from_account: Market, to_account: Market, asset: str, amount: Decimal
) -> Refusal | None:
    """The checks that need no shared state: the whitelist and the per-transfer cap."""
    if not policy.allows(from_account, to_account, asset):
        allowed = ", ".join(str(r) for r in policy.routes)
        return Refusal(
            "ROUTE_NOT_WHITELISTED",
            f"route {from_account}→{to_account} {asset} is not on the whitelist (allowed: {allowed})",
        )
    limits = policy.limits_for(asset)
    assert limits is not None  # the policy's own validation: every route's asset has limits
    if amount > limits.max_per_transfer:
        return Refusal(
            "OVER_TRANSFER_LIMIT",
            f"{plain(amount)} {asset} is over the per-transfer limit of "
            f"{plain(limits.max_per_transfer)} {asset}",
        )
    return None


def check_daily(policy: TreasuryPolicy, asset: str, amount: Decimal, used: Decimal) -> Refusal | None:
    """The rolling-day cap, given what the window already holds (``used``, this transfer excluded)."""
    limits = policy.limits_for(asset)
    assert limits is not None
    if used + amount > limits.max_per_day:
        hours = policy.window_ms / 3_600_000
        return Refusal(
            "OVER_DAILY_LIMIT",
            f"{plain(amount)} {asset} would bring the last {hours:g} h to {plain(used + amount)} {asset}, "
            f"over the daily limit of {plain(limits.max_per_day)} {asset} "
            f"({plain(used)} {asset} already moved)",
        )
    return None
