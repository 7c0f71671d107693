"""Topics around the trading path: labels (S7 → S8), config hot reload (S10 → all), audit, metrics
and alerts. None of them is co-partitioned by symbol; the low-rate ones have one partition, so
their consumers see one total order (a config roll-out, an audit trail)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, StringConstraints

from chimera.model import Market, Side
from topics.base import Contract, EpochMs, FiniteFloat, Kind, Money, Name, Ratio, SignalIdField, SymbolField
from topics.registry import DAY_MS, TopicSpec, register

Horizon = Literal[12, 24, 36]


class LabelsReady(Contract):
    """S7 wrote a signal's label for one horizon (``labels_<h>h``); S8 may now write its autopsy."""

    signal_id: SignalIdField
    horizon_h: Horizon
    symbol: SymbolField
    market: Market
    side: Side | None = Field(None, description="the decision's direction; null for a skipped signal")
    pos_id: Name | None = Field(None, description="the position the signal opened, if any")
    t0: EpochMs
    t_end: EpochMs
    roi_net: Money = Field(description="ROI net of fees and funding over the horizon")
    label: Literal[-1, 0, 1]
    ts: EpochMs


class ConfigEvent(Contract):
    """S10 promoted (or rolled back) a config bundle revision: every service hot-reloads (RCU).

    The topic is compacted on ``bundle_id``: it keeps each bundle's latest event. The active
    revision itself is ``cfg:{active}`` in Redis and S10's ``GET /active``.
    """

    bundle_id: Name
    rev: Annotated[str, Field(min_length=1)]
    previous_rev: str | None = None
    action: Literal["PROMOTE", "ROLLBACK"] = "PROMOTE"
    scope: Name = Field("global", description="'global' or the one service the bundle configures")
    stage: Literal["canary", "ramp", "full"] = "full"
    ramp_pct: Ratio = 1.0
    promotion_id: Name | None = None
    actor: Name | None = None
    ts: EpochMs


def _no_decimal(detail: object) -> object:
    if isinstance(detail, dict):
        for name, value in detail.items():
            if isinstance(value, Decimal):
                raise ValueError(f"{name}: put amounts in detail as strings (str(Decimal)), not Decimal")
    return detail


Scalar = str | bool | int | FiniteFloat | None


class OpsEvent(Contract):
    """An audit record (spec ``ops:events``): a transfer, a kill switch, an experiment, an approval."""

    event_id: Name = Field(description="idempotency key of the audited action")
    kind: Kind = Field(description="e.g. TRANSFER_DONE, KILL_SWITCH_ON, EXPERIMENT_DONE")
    source: Name = Field(description="the service that did it")
    actor: Name | None = Field(None, description="the user behind it, for actions through S12")
    subject: Name | None = Field(None, description="what it was done to: a transfer_id, a hypothesis, …")
    symbol: SymbolField | None = None
    detail: Annotated[dict[str, Scalar], BeforeValidator(_no_decimal)] = Field(default_factory=dict)
    ts: EpochMs


# tags become ClickHouse's canonical series "k=v,k2=v2": neither may hold ',' or '='
TagKey = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
TagValue = Annotated[str, StringConstraints(pattern=r"^[^,=]{0,200}$")]


class MetricEvent(Contract):
    """One measurement (spec ``metrics:events:<name>``, e.g. ``s1.ws_rtt``), for S11."""

    service: Name
    name: Name
    value: FiniteFloat
    kind: Literal["gauge", "counter", "timer"] = "gauge"
    tags: dict[TagKey, TagValue] = Field(default_factory=dict)
    ts: EpochMs

    @property
    def series(self) -> str:
        """The canonical label set of ``metrics_timeseries.series``."""
        return ",".join(f"{k}={self.tags[k]}" for k in sorted(self.tags))


class Alert(Contract):
    """An alert (S5's reconcile errors, S11's health changes); ``version`` counts its state changes."""

    alert_id: Name
    version: int = Field(0, ge=0)
    level: Literal["INFO", "WARNING", "ERROR", "CRITICAL"]
    source: Name
    kind: Kind
    message: Annotated[str, Field(min_length=1)]
    symbol: SymbolField | None = None
    health_level: Literal["GREEN", "YELLOW", "ORANGE", "RED"] | None = None
    state: Literal["OPEN", "ACKED", "RESOLVED"] = "OPEN"
    ts: EpochMs


# metrics are many and S11 folds them into ClickHouse at once: a day on the broker is plenty;
# the audit trail is kept a quarter so a stopped audit sink can still catch up
register(
    TopicSpec("labels.ready", "signal_id", LabelsReady, flow="S7 → S8"),
    TopicSpec(
        "cfg.events", "bundle", ConfigEvent, partitions=1, retention_ms=None, compact=True, flow="S10 → all"
    ),
    TopicSpec(
        "ops.events", "none", OpsEvent, partitions=1, retention_ms=90 * DAY_MS, flow="S1, S9, S12 → audit"
    ),
    TopicSpec("metrics.events", "service", MetricEvent, retention_ms=1 * DAY_MS, flow="all → S11"),
    TopicSpec("alerts", "none", Alert, partitions=1, retention_ms=30 * DAY_MS, flow="S5, S11 → sink, UI"),
)
