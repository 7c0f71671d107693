"""Bad parameters and bad input fail with an error that names the problem."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from agents.features.config import FeatureConfig, RegimeConfig
from agents.features.ticks import TickArrays


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"interval_ms": 0}, "interval_ms"),
        ({"atr_n": -3}, "atr_n"),
        ({"rv_window": 1}, "rv_window"),
        ({"outlier_k": 0}, "outlier_k"),
        ({"config_rev": ""}, "config_rev"),
        ({"depth_levels": "many"}, "depth_levels"),
        ({"atr": 14}, "atr"),  # unknown field
    ],
)
def test_feature_config_errors_name_the_field(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as err:
        FeatureConfig.model_validate(kwargs)
    assert [e["loc"] for e in err.value.errors()] == [(field,)]


def test_feature_config_relations() -> None:
    with pytest.raises(ValidationError, match="ema_fast"):
        FeatureConfig(ema_fast=30, ema_slow=26)
    with pytest.raises(ValidationError, match="rho_min_pairs"):
        FeatureConfig(rho_window=10, rho_min_pairs=11)


def test_feature_config_is_frozen_and_has_a_stable_rev() -> None:
    cfg = FeatureConfig()
    with pytest.raises(ValidationError):
        cfg.atr_n = 5  # type: ignore[misc]
    assert cfg.rev() == FeatureConfig().rev() != FeatureConfig(atr_n=15).rev()
    assert FeatureConfig(rv_annualise=False).annualisation == 1.0
    assert FeatureConfig(interval_ms=86_400_000).annualisation == pytest.approx(365**0.5)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"p_low": 0}, "p_low"), ({"p_high": 100}, "p_high"), ({"lookback_days": 0}, "lookback_days")],
)
def test_regime_config_errors_name_the_field(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as err:
        RegimeConfig.model_validate(kwargs)
    assert [e["loc"] for e in err.value.errors()] == [(field,)]
    with pytest.raises(ValidationError, match="p_low"):
        RegimeConfig(p_low=60, p_high=40)


def test_tick_arrays_reject_bad_columns() -> None:
    ts = np.array([1, 2, 3], dtype=np.int64)
    px = np.array([1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="'qty' has 2 rows"):
        TickArrays(ts=ts, price=px, qty=np.zeros(2))
    with pytest.raises(ValueError, match="not monotonic"):
        TickArrays(ts=ts[::-1].copy(), price=px, qty=np.zeros(3))
    with pytest.raises(ValueError, match="positive"):
        TickArrays(ts=ts, price=np.array([1.0, 0.0, 3.0]), qty=np.zeros(3))
    with pytest.raises(ValueError, match="qty must be >= 0"):
        TickArrays(ts=ts, price=px, qty=np.array([0.0, np.nan, 1.0]))
    with pytest.raises(ValueError, match="integer epoch ms"):
        TickArrays(ts=ts.astype(float), price=px, qty=np.zeros(3))
