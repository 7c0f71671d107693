"""Data-quality flags attached to each feature event (S3's L0 gate reads them)."""

from __future__ import annotations

from enum import StrEnum


class Dqc(StrEnum):
    STALE = "STALE"  # the bar's last tick is more than stale_ms older than its close
    GAP = "GAP"  # intervals with no priced tick lie between this bar and the previous one
    CROSSED = "CROSSED"  # some book row in the bar had bid >= ask
    OUTLIER = "OUTLIER"  # |ret_1| > outlier_k * sigma of the rv window ending at the previous bar
    LATE = "LATE"  # ticks of already-closed bars were dropped since the last event
    WARMUP = "WARMUP"  # a windowed feature (atr, rv) lacks history and is null
