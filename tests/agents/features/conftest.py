"""Fixtures of the feature-core tests: real data loaded once, a batch runner, a small config factory."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import pytest
from features_kit import Runner, bar_replay_ticks, book_stream, load_bars, run_batches

from agents.features.config import FeatureConfig
from agents.features.ticks import TickArrays


@pytest.fixture(scope="session")
def btc_bars() -> pd.DataFrame:
    return load_bars()


@pytest.fixture(scope="session")
def btc_ticks(btc_bars: pd.DataFrame) -> TickArrays:
    return bar_replay_ticks(btc_bars)


@pytest.fixture(scope="session")
def book_df() -> pd.DataFrame:
    return book_stream()


@pytest.fixture
def runner() -> Runner:
    return run_batches


@pytest.fixture
def make_config() -> Callable[..., FeatureConfig]:
    """Small windows so crafted series are short; any field can be overridden."""

    def make(**overrides: object) -> FeatureConfig:
        base: dict[str, object] = {
            "interval_ms": 1_000,
            "atr_n": 3,
            "rv_window": 5,
            "rho_window": 6,
            "rho_min_pairs": 4,
            "ema_fast": 2,
            "ema_slow": 4,
            "stale_ms": 500,
            "outlier_k": 4.0,
            "rv_annualise": False,
        }
        base.update(overrides)
        return FeatureConfig.model_validate(base)

    return make
