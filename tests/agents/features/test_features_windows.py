"""``rolling_std`` against its definition written out in plain Python: each window's mean and
squared deviations summed strictly left to right, so the value cannot depend on how NumPy reduces
(pairwise inside an array, sequential across rows) or on how the series was split into batches."""

from __future__ import annotations

import math

import numpy as np
import pytest

from agents.features.windows import rolling_std


def sequential_std(values: list[float], window: int) -> float:
    total = 0.0
    for v in values:
        total += v
    mean = total / window
    ss = 0.0
    for v in values:
        ss += (v - mean) * (v - mean)
    return math.sqrt(ss / (window - 1))


@pytest.mark.parametrize("seed", range(4))
def test_rolling_std_is_the_left_to_right_definition_bit_for_bit(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(400):
        n, window = int(rng.integers(1, 150)), int(rng.integers(2, 70))
        n_new = int(rng.integers(0, n + 1))
        history = rng.normal(0.0, 1e-3, n) * float(rng.choice([1.0, 1e4, 1e-6]))
        got = rolling_std(history, n_new, window)
        assert got.shape == (n_new,)
        for j in range(n_new):
            end = n - n_new + j + 1  # the window ending at history[end - 1]
            if end < window:
                assert math.isnan(got[j])
            else:
                want = sequential_std(history[end - window : end].tolist(), window)
                assert got[j] == want, (n, window, n_new, j)


def test_one_window_and_windows_longer_than_the_history() -> None:
    h = np.array([0.01, -0.02, 0.03, 0.005, -0.001, 0.002, 0.0, 0.004, -0.003, 0.02])
    assert rolling_std(h, 1, 10)[0] == sequential_std(h.tolist(), 10)
    assert np.isnan(rolling_std(h, 3, 11)).all()
    assert rolling_std(h, 0, 5).shape == (0,)
