"""The daily regime label on crafted RV histories, and daily RV on the real BTC month."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from agents.features.config import RegimeConfig
from agents.features.regime import DAY_MS, Regime, classify, daily_realised_vol

AS_OF = 1_643_673_600_000  # 2022-02-01 00:00 UTC


def history(latest: float) -> list[float]:
    return [float(x) for x in range(1, 101)] + [latest]  # 100 prior days with RV 1..100


@pytest.mark.parametrize(
    ("latest", "percentile", "regime"),
    [
        (0.5, 0.0, Regime.FROZEN),
        (9.0, 8.5, Regime.FROZEN),  # 8 below, 1 equal of 100
        (10.5, 10.0, Regime.NORMAL),  # exactly p_low is not below it
        (50.0, 49.5, Regime.NORMAL),
        (90.5, 90.0, Regime.NORMAL),  # exactly p_high is not above it
        (91.0, 90.5, Regime.EXTREME),
        (1_000.0, 100.0, Regime.EXTREME),
    ],
)
def test_labels_by_percentile(latest: float, percentile: float, regime: Regime) -> None:
    cfg = RegimeConfig(lookback_days=100, p_low=10, p_high=90)
    out = classify(history(latest), AS_OF, cfg)
    assert out["regime"] == regime.value
    assert out["percentile"] == pytest.approx(percentile, abs=1e-12)
    assert out["rv"] == latest
    assert out["as_of"] == AS_OF and out["expires_at"] == AS_OF + cfg.ttl_ms


def test_only_the_lookback_days_count() -> None:
    # 300 calm days, then 30 wild ones: among the last 30 only, 55 ranks 18th percentile
    rvs = [1.0] * 300 + [float(x) for x in range(50, 80)] + [55.0]
    short = classify(rvs, AS_OF, RegimeConfig(lookback_days=30, min_history=30))
    assert (short["regime"], short["percentile"]) == ("NORMAL", pytest.approx(100 * 5.5 / 30))
    long = classify(rvs, AS_OF, RegimeConfig(lookback_days=330, min_history=30))
    assert (long["regime"], long["percentile"]) == ("EXTREME", pytest.approx(100 * 305.5 / 330))


def test_rev_is_deterministic_and_moves_with_inputs() -> None:
    cfg = RegimeConfig(lookback_days=100)
    a = classify(history(42.0), AS_OF, cfg)
    assert classify(history(42.0), AS_OF, cfg) == a
    assert classify(history(42.5), AS_OF, cfg)["rev"] != a["rev"]
    assert classify(history(42.0), AS_OF + DAY_MS, cfg)["rev"] != a["rev"]
    assert classify(history(42.0), AS_OF, RegimeConfig(lookback_days=100, p_high=95))["rev"] != a["rev"]


def test_bad_histories_are_refused_with_the_reason() -> None:
    cfg = RegimeConfig(lookback_days=30, min_history=20)
    with pytest.raises(ValueError, match="19 prior days, min_history is 20"):
        classify([1.0] * 20, AS_OF, cfg)
    with pytest.raises(ValueError, match="positions \\[3\\]"):
        classify([1.0, 2.0, 3.0, math.nan] + [1.0] * 30, AS_OF, cfg)
    with pytest.raises(ValueError, match="empty"):
        classify([], AS_OF, cfg)


def test_daily_rv_of_the_btc_month_matches_pandas(btc_bars: pd.DataFrame) -> None:
    days, rv = daily_realised_vol(btc_bars["ts"].to_numpy(), btc_bars["close"].to_numpy())
    df = btc_bars.assign(r2=np.log(btc_bars["close"] / btc_bars["close"].shift(1)) ** 2)
    df["day"] = pd.to_datetime(df["ts"], unit="ms").dt.floor("D")
    expected = np.sqrt(df.iloc[1:].groupby("day")["r2"].sum()) * math.sqrt(365)
    assert len(rv) == len(expected) == 33
    assert days.tolist() == [int(d.value // 1_000_000) for d in expected.index]
    np.testing.assert_allclose(rv, expected.to_numpy(), rtol=1e-9)

    # label the last full day (Jan 31) against the 30 days before it
    out = classify(rv[:-1].tolist(), int(days[-1]), RegimeConfig(lookback_days=30, min_history=20))
    prior = rv[-32:-2]
    pct = 100.0 * ((prior < rv[-2]).sum() + 0.5 * (prior == rv[-2]).sum()) / len(prior)
    assert out["percentile"] == pytest.approx(pct, abs=1e-12)
    assert out["regime"] == ("FROZEN" if pct < 10 else "EXTREME" if pct > 90 else "NORMAL")
