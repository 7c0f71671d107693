"""The wire bytes S2 writes from event columns (``encode_columns``) are the contract's bytes, event for
event, and what the contract refuses is still refused, naming the field."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
import pytest
from features_kit import ticks_of
from pydantic import ValidationError

from agents.features.config import FeatureConfig
from agents.features.core import FEATURES, EventColumns, step_columns, step_reference
from agents.features.encode import encode_columns, encode_events
from agents.features.state import FeatureState
from agents.features.ticks import TickArrays
from topics.trading import FeatureEvent as FeatureMessage


def _columns(
    ticks: TickArrays, cfg: FeatureConfig, size: int, ref: TickArrays | None = None
) -> list[EventColumns]:
    """The core's event columns of each ``size``-tick batch (the reference's ticks fed first)."""
    state, out = FeatureState(symbol="BTCUSDT"), []
    for pos in range(0, len(ticks), size):
        part = ticks.slice(pos, pos + size)
        if ref is not None:
            lo, hi = np.searchsorted(ref.ts, [int(part.ts[0]), int(part.ts[-1]) + 1])
            state = step_reference(state, ref.slice(int(lo), int(hi)), cfg)
        state, cols = step_columns(state, part, cfg)
        out.append(cols)
    return out


def _same_as_contract(batches: list[EventColumns]) -> int:
    n = 0
    for cols in batches:
        events = cols.events()
        got = encode_columns(cols)
        assert got == encode_events(events)
        assert got == [FeatureMessage.model_validate(e).encode() for e in events]
        n += len(got)
    return n


def test_btc_month_bytes_equal_the_contracts(btc_ticks: TickArrays) -> None:
    """Every event of the month, in the bench's 64-tick batches, with a reference series so rho is
    written too (and the first bar's nulls, warm-up flags, gaps)."""
    closes = btc_ticks.price[3::4]
    ref = TickArrays.from_prices(
        btc_ticks.ts[3::4] - 29_999, closes * (1.0 + 1e-4 * np.sin(np.arange(len(closes))))
    )
    batches = _columns(btc_ticks, FeatureConfig(), 64, ref)
    n = _same_as_contract(batches)
    assert n == len(btc_ticks) // 4 - 1  # one event per bar but the last, still open
    written = [FeatureMessage.decode(b) for cols in batches for b in encode_columns(cols)]
    assert sum(m.features["rho"] is not None for m in written) > 40_000
    assert {f for m in written for f in m.dqc} >= {"WARMUP", "OUTLIER"}


def test_book_stream_bytes_equal_the_contracts(book_df: pd.DataFrame) -> None:
    """Real trades and quotes: spread and depth values, STALE and GAP flags, bars split across batches."""
    cfg = FeatureConfig(interval_ms=200, rv_window=10, rho_window=10, rho_min_pairs=5, stale_ms=50)
    batches = _columns(ticks_of(book_df), cfg, 97)
    assert _same_as_contract(batches) == 208
    events = [e for cols in batches for e in cols.events()]
    assert {f for e in events for f in e["dqc"]} >= {"GAP", "STALE", "WARMUP"}
    assert (
        sum(e["features"]["spread_bp"] is not None and e["features"]["depth"] is not None for e in events)
        > 150
    )


def _one(cfg: FeatureConfig) -> EventColumns:
    ticks = TickArrays.from_prices(np.arange(0, 600_000, 15_000), 100.0 + np.arange(40.0), np.ones(40))
    return step_columns(FeatureState(symbol="BTCUSDT"), ticks, cfg)[1]


def _with(cols: EventColumns, name: str, value: object) -> EventColumns:
    values: list[list[Any]] = [list(v) for v in cols.values]
    values[FEATURES.index(name)][-1] = value
    return replace(cols, values=values)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda c: _with(c, "atr", float("inf")), "features.atr"),
        (lambda c: _with(c, "close", float("-inf")), "features.close"),
        (lambda c: _with(c, "volume", [1.0]), "features.volume"),
        (lambda c: replace(c, t0=[*c.t0[:-1], -1]), "t0"),
        (lambda c: replace(c, dqc=[*c.dqc[:-1], ["NOISY"]]), "dqc"),
        (lambda c: replace(c, config_rev=""), "config_rev"),
        (lambda c: replace(c, symbol="BTC USDT"), "symbol"),
    ],
)
def test_what_the_contract_refuses_is_refused_naming_the_field(change: object, field: str) -> None:
    cols = change(_one(FeatureConfig()))  # type: ignore[operator]
    with pytest.raises(ValidationError) as err:
        encode_columns(cols)
    assert any(".".join(str(p) for p in e["loc"][1:]).startswith(field) for e in err.value.errors())


@pytest.mark.parametrize(
    "change",
    [
        lambda c: _with(c, "n_ticks", True),  # a bool the contract reads as an int
        lambda c: _with(c, "open", np.float64(100.5)),  # a NumPy scalar
        # a symbol JSON escapes, in the signal id too
        lambda c: replace(c, symbol='BTC"USDT', signal_id=[s.replace("BTC", 'BTC"') for s in c.signal_id]),
        lambda c: replace(c, config_rev="rev%d%%"),  # a rev with %-format characters
    ],
)
def test_unusual_values_are_still_written_as_the_contract_writes_them(change: object) -> None:
    cols = change(_one(FeatureConfig()))  # type: ignore[operator]
    assert encode_columns(cols) == encode_events(cols.events())


def test_no_events_no_bytes() -> None:
    assert encode_columns(EventColumns.empty("BTCUSDT", "local")) == []
