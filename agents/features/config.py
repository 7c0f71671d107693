"""Validated, frozen parameters of the feature core and the regime job."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, PositiveInt, model_validator

from chimera.model import stable_hash

MS_PER_YEAR = 365 * 86_400_000  # crypto trades every day, so a year is 365 full days


class FeatureConfig(BaseModel):
    """Windows and thresholds of S2's per-symbol features (all windows count closed bars)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    config_rev: str = Field("local", min_length=1, description="active bundle rev, part of signal_id")
    interval_ms: PositiveInt = Field(60_000, description="bar length in event time")
    atr_n: PositiveInt = Field(14, description="Wilder ATR period")
    rv_window: int = Field(60, ge=2, description="log returns in the realised-volatility window")
    rv_annualise: bool = Field(True, description="scale rv by sqrt(bars per 365-day year)")
    rho_window: int = Field(60, ge=3, description="last main returns searched for aligned pairs")
    rho_min_pairs: int = Field(30, ge=3, description="fewest aligned pairs for a correlation")
    ema_fast: PositiveInt = Field(12, description="span of the fast EMA of closes")
    ema_slow: PositiveInt = Field(26, description="span of the slow EMA of closes")
    depth_levels: PositiveInt = Field(5, description="top-k book levels summed into depth")
    stale_ms: PositiveInt = Field(5_000, description="STALE: bar's last tick older than this at close")
    outlier_k: PositiveFloat = Field(6.0, description="OUTLIER when |ret_1| > k * sigma of the prior window")

    @model_validator(mode="after")
    def _check_relations(self) -> FeatureConfig:
        if self.ema_fast >= self.ema_slow:
            raise ValueError(f"ema_fast ({self.ema_fast}) must be shorter than ema_slow ({self.ema_slow})")
        if self.rho_min_pairs > self.rho_window:
            raise ValueError(f"rho_min_pairs ({self.rho_min_pairs}) exceeds rho_window ({self.rho_window})")
        return self

    @property
    def annualisation(self) -> float:
        """Factor that turns a per-bar standard deviation into a yearly one (1.0 when not annualised)."""
        return (MS_PER_YEAR / self.interval_ms) ** 0.5 if self.rv_annualise else 1.0

    @property
    def history(self) -> int:
        """Returns kept per series: enough for both the rv and the rho window."""
        return max(self.rv_window, self.rho_window)

    def rev(self) -> str:
        """Hash of the parameters, for telling two configs apart in logs and records."""
        return stable_hash(self.model_dump_json())


class RegimeConfig(BaseModel):
    """Percentile thresholds of the daily regime label."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    lookback_days: PositiveInt = Field(90, description="prior daily RVs the latest one is ranked among")
    min_history: PositiveInt = Field(20, description="fewest prior daily RVs needed for a label")
    p_low: float = Field(10.0, gt=0, lt=100, description="FROZEN below this percentile")
    p_high: float = Field(90.0, gt=0, lt=100, description="EXTREME above this percentile")
    ttl_ms: PositiveInt = Field(26 * 3_600_000, description="validity of a label after its as-of time")

    @model_validator(mode="after")
    def _check_relations(self) -> RegimeConfig:
        if self.p_low >= self.p_high:
            raise ValueError(f"p_low ({self.p_low}) must be below p_high ({self.p_high})")
        if self.min_history > self.lookback_days:
            raise ValueError(f"min_history ({self.min_history}) exceeds lookback_days ({self.lookback_days})")
        return self
