"""Data-quality flags attached to each feature event (S3's L0 gate reads them)."""

from __future__ import annotations

from enum import StrEnum

from agents.features.config import FeatureConfig


class Dqc(StrEnum):
    STALE = "STALE"  # the bar's last tick is more than stale_ms older than its close
    GAP = "GAP"  # intervals with no priced tick lie between this bar and the previous one
    CROSSED = "CROSSED"  # some book row in the bar had bid >= ask
    OUTLIER = "OUTLIER"  # |ret_1| > outlier_k * sigma of the rv window ending at the previous bar
    LATE = "LATE"  # ticks of already-closed bars were dropped since the last event
    WARMUP = "WARMUP"  # a windowed feature (atr, rv) lacks history and is null


_STALE, _GAP, _CROSSED, _OUTLIER, _LATE, _WARMUP = (f.value for f in Dqc)


def flags_of(
    quiet_ms: list[int],
    gap: list[int],
    crossed: list[bool],
    ret: list[float],
    sigma_prev: list[float],
    late: list[int],
    atr: list[float],
    sigma: list[float],
    cfg: FeatureConfig,
) -> list[list[str]]:
    """The flags of each closed bar (columns, one value per bar); ``quiet_ms`` is the time from a
    bar's last tick to its close, ``sigma_prev`` the rv window's sigma at the bar before."""
    stale_ms, k = cfg.stale_ms, cfg.outlier_k
    out: list[list[str]] = []
    for q, g, c, r, sp, n_late, a, s in zip(
        quiet_ms, gap, crossed, ret, sigma_prev, late, atr, sigma, strict=True
    ):
        flags: list[str] = []
        if q > stale_ms:
            flags.append(_STALE)
        if g > 0:
            flags.append(_GAP)
        if c:
            flags.append(_CROSSED)
        if abs(r) > k * sp:  # False whenever either side is NaN
            flags.append(_OUTLIER)
        if n_late:
            flags.append(_LATE)
        if a != a or s != s:  # NaN: a windowed feature still warming up
            flags.append(_WARMUP)
        out.append(flags)
    return out
