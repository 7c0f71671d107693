"""Data-quality flags attached to each feature event (S3's L0 gate reads them)."""

from __future__ import annotations

import math
from enum import StrEnum

from agents.features.config import FeatureConfig


class Dqc(StrEnum):
    STALE = "STALE"  # the bar's last tick is more than stale_ms older than its close
    GAP = "GAP"  # intervals with no priced tick lie between this bar and the previous one
    CROSSED = "CROSSED"  # some book row in the bar had bid >= ask
    OUTLIER = "OUTLIER"  # |ret_1| > outlier_k * sigma of the rv window ending at the previous bar
    LATE = "LATE"  # ticks of already-closed bars were dropped since the last event
    WARMUP = "WARMUP"  # a windowed feature (atr, rv) lacks history and is null


def flags_for(
    quiet_ms: int,
    gap: int,
    crossed: bool,
    ret: float,
    sigma_prev: float,
    late: int,
    atr: float,
    sigma: float,
    cfg: FeatureConfig,
) -> list[str]:
    """The flags of one closed bar; ``quiet_ms`` is the time from its last tick to its close."""
    flags: list[str] = []
    if quiet_ms > cfg.stale_ms:
        flags.append(Dqc.STALE.value)
    if gap > 0:
        flags.append(Dqc.GAP.value)
    if crossed:
        flags.append(Dqc.CROSSED.value)
    if abs(ret) > cfg.outlier_k * sigma_prev:  # False whenever either side is NaN
        flags.append(Dqc.OUTLIER.value)
    if late:
        flags.append(Dqc.LATE.value)
    if math.isnan(atr) or math.isnan(sigma):
        flags.append(Dqc.WARMUP.value)
    return flags
