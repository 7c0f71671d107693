"""The two ways ``aggregate`` cuts a batch into bars (a Python loop for micro-batches, NumPy for large
ones) give the same bars bit for bit, on real trades and quotes and on the BTC replay."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from features_kit import ticks_of

from agents.features import bars
from agents.features.bars import BarColumns, _segments, _segments_loop
from agents.features.state import EMPTY_BAR, Bar
from agents.features.ticks import TickArrays


def _rows(cols: BarColumns) -> list[dict[str, object]]:
    return [cols.row(i).to_dict() for i in range(len(cols.bucket))]  # NaN as None: comparable


def _check(ticks: TickArrays, interval_ms: int, size: int) -> int:
    n = 0
    carry = Bar(
        bucket=0, open=1.0, high=2.0, low=0.5, close=1.5, n_price=3, volume=0.1, spread_sum=0.3, spread_n=2
    )
    for pos in range(0, len(ticks), size):
        part = ticks.slice(pos, pos + size)
        bucket = part.ts // interval_ms
        if bucket[0] == bucket[-1]:
            continue  # one interval: aggregate's own path
        for c, merge in ((carry, True), (EMPTY_BAR, False)):
            assert _rows(_segments_loop(part, bucket, c)) == _rows(_segments(part, bucket, c, merge))
        n += 1
    return n


@pytest.mark.parametrize("size", [7, 64, 300])
def test_loop_and_numpy_bars_are_the_same_on_a_book_stream(book_df: pd.DataFrame, size: int) -> None:
    assert _check(ticks_of(book_df), 200, size) > 2452 // size // 3  # most batches span intervals


def test_loop_and_numpy_bars_are_the_same_on_the_btc_replay(btc_ticks: TickArrays) -> None:
    assert _check(btc_ticks.slice(0, 40_000), 60_000, 64) > 500


def test_batch_sizes_choose_the_way(monkeypatch: pytest.MonkeyPatch) -> None:
    """Both ways are reached by ``aggregate`` (the threshold is what the stream tests cross)."""
    ticks = TickArrays.from_prices(np.arange(0, 600_000, 15_000), 100.0 + np.arange(40.0), np.ones(40))
    monkeypatch.setattr(bars, "LOOP_TICKS", 0)
    numpy_way = bars.aggregate(EMPTY_BAR, ticks, 60_000)
    monkeypatch.setattr(bars, "LOOP_TICKS", 10_000)
    loop_way = bars.aggregate(EMPTY_BAR, ticks, 60_000)
    assert _rows(numpy_way[0]) == _rows(loop_way[0]) and numpy_way[1].to_dict() == loop_way[1].to_dict()
    assert len(loop_way[0].bucket) == 9


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_long_segments_sum_as_the_loop_does_bit_for_bit(monkeypatch: pytest.MonkeyPatch, seed: int) -> None:
    """``np.add.accumulate`` (long segments) adds in the loop's order: on values whose sum depends on
    the order (magnitudes 1e-8..1e8, signs mixed), both give the same bits, not just close ones."""
    rng = np.random.default_rng(seed)
    values = rng.choice([-1.0, 1.0], 5_000) * 10.0 ** rng.uniform(-8, 8, 5_000)
    rows = np.sort(rng.choice(5_000, 4_000, replace=False))
    bounds = [0, 3, 1_500, 1_501, 4_000]
    monkeypatch.setattr(bars, "SUM_LOOP_ROWS", 0)
    numpy_way = bars._seq_sums(values, rows, bounds, 0.123)
    monkeypatch.setattr(bars, "SUM_LOOP_ROWS", 10_000)
    loop_way = bars._seq_sums(values, rows, bounds, 0.123)
    want, start = [], 0.123
    for lo, hi in itertools.pairwise(bounds):
        s = start
        for i in rows[lo:hi]:
            s += float(values[i])
        want.append(s)
        start = 0.0
    assert numpy_way == loop_way == want
    assert want != [float(np.sum(values[rows[lo:hi]])) for lo, hi in itertools.pairwise(bounds)]


def test_dense_bars_are_the_same_by_either_sum(
    book_df: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A busy market's bars (hundreds of trades and quotes per interval) sum volume and spread the same
    bits by NumPy or by the loop."""
    ticks = ticks_of(book_df)
    bucket = ticks.ts // 10_000
    assert np.diff(np.flatnonzero(np.diff(bucket))).mean() > 32  # segments long enough for NumPy
    monkeypatch.setattr(bars, "SUM_LOOP_ROWS", 0)
    numpy_way = _rows(_segments(ticks, bucket, EMPTY_BAR, False))
    monkeypatch.setattr(bars, "SUM_LOOP_ROWS", 10_000)
    assert numpy_way == _rows(_segments(ticks, bucket, EMPTY_BAR, False))
    assert numpy_way == _rows(_segments_loop(ticks, bucket, EMPTY_BAR))


@pytest.mark.parametrize("size", [300, 700])
def test_a_few_intervals_cut_one_by_one_make_the_bars_of_the_numpy_way(
    book_df: pd.DataFrame, monkeypatch: pytest.MonkeyPatch, size: int
) -> None:
    """Large batches across one or two bar ends (a dense stream's usual batch) are cut into their
    intervals, each folded as a batch of its own: the same bars, bit for bit, as ``_segments``."""
    ticks = ticks_of(book_df)

    def fold(few: int) -> tuple[list[dict[str, object]], dict[str, object], int]:
        monkeypatch.setattr(bars, "FEW_INTERVALS", few)
        closed: list[dict[str, object]] = []
        bar, spans = EMPTY_BAR, 0
        for pos in range(0, len(ticks), size):
            part = ticks.slice(pos, pos + size)
            spans += 1 < len(np.unique(part.ts // 10_000)) <= 3
            cols, bar, _ = bars.aggregate(bar, part, 10_000)
            closed += _rows(cols)
        return closed, bar.to_dict(), spans

    by_interval, numpy_way = fold(3), fold(0)
    assert by_interval == numpy_way
    assert by_interval[2] >= 3  # batches that took the interval-by-interval way
    assert len(by_interval[0]) == 4
