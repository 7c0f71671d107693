"""S4's routing parameters: frozen and validated, read from ``router:{param}:curves`` (JSON).

S11 fits the cost curves monthly and S10 promotes them (B10); the router only reads. A missing
record means the defaults; an unreadable one keeps the last good parameters (a bad write must not
turn execution into something nobody chose) and is reported to the caller.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

Health = Literal["GREEN", "YELLOW", "ORANGE", "RED"]
HEALTH_LEVELS: tuple[Health, ...] = ("GREEN", "YELLOW", "ORANGE", "RED")

# the B9 matrix for execution: a worse health waits longer for a maker fill (S3 has the same rows)
DEFAULT_WAIT_MULT: dict[Health, float] = {"GREEN": 1.0, "YELLOW": 1.5, "ORANGE": 2.0, "RED": 2.0}


class RouterParams(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    rev: str = Field("default", min_length=1, description="who wrote these (S10 bundle rev)")
    maker_wait_ms: int = Field(2_000, ge=0, description="post-only wait before taking (GREEN)")
    max_reprices: int = Field(3, ge=0, le=50, description="new maker orders after the first one")
    reprice_min_ticks: int = Field(1, ge=1, description="book moved away this far -> re-price")
    health_wait_mult: dict[Health, float] = Field(default_factory=lambda: dict(DEFAULT_WAIT_MULT))
    # a spot OCO's stop-limit leg sits this far beyond its trigger unless the intent names it
    oco_stop_limit_bps: float = Field(50.0, ge=0, le=1_000)
    # a send whose outcome is unknown and which the venue still does not know after this long was
    # never placed (Binance drops requests older than recvWindow 10 s; +1 s for clock skew)
    unknown_after_ms: int = Field(11_000, ge=0)
    twap_max_slices: int = Field(200, ge=2)
    # S11's fitted slippage curves (B10: slip_bps = g(spread, depth, vol, regime)), kept as written
    curves: dict[str, Any] = Field(default_factory=dict)

    @field_validator("health_wait_mult")
    @classmethod
    def _every_level(cls, value: dict[Health, float]) -> dict[Health, float]:
        merged = {**DEFAULT_WAIT_MULT, **value}
        bad = {k: v for k, v in merged.items() if not v >= 1.0}
        if bad:
            raise ValueError(f"a health multiplier must be >= 1 (health never shortens the wait): {bad}")
        return merged

    def maker_wait_for(self, health: str | None) -> int:
        """The default maker wait at this health; an unreadable level waits the longest."""
        if health is None:
            mult = self.health_wait_mult["GREEN"]
        elif health in self.health_wait_mult:
            mult = self.health_wait_mult[health]
        else:
            mult = max(self.health_wait_mult.values())
        return round(self.maker_wait_ms * mult)


DEFAULT_PARAMS = RouterParams()


def parse_params(
    raw: str | None, last_good: RouterParams = DEFAULT_PARAMS
) -> tuple[RouterParams, str | None]:
    """Return the parameters a record gives and an error text when it is unreadable."""
    if raw is None or not raw.strip():
        return DEFAULT_PARAMS, None
    try:
        doc = json.loads(raw)
    except ValueError as exc:
        return last_good, f"router:{{param}}:curves is not JSON: {exc}"
    if not isinstance(doc, dict):
        return last_good, "router:{param}:curves must be a JSON object"
    try:
        return RouterParams.model_validate(doc), None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(record)"
        return last_good, f"router:{{param}}:curves: {where}: {first['msg']}"
