"""Schemas of the market-data topics ``mkt.spot``, ``mkt.perp`` (columnar micro-batches) and
``mkt.funding`` (one event per funding settlement).

A :class:`MarketBatch` carries one symbol's ticks of one short event-time window as parallel
columns (DESIGN §1.7): S2 turns each column into a NumPy array and computes on arrays, so a Faust
agent pays its per-message cost once per batch instead of once per tick.

Prices travel as float64. That is exact for money: every venue price or quantity has at most 15
significant digits, and a float64 written with ``repr`` (which JSON does) reads back as the same
shortest decimal, so ``chimera.model.to_decimal(x)`` recovers the venue's exact Decimal. Derived
columns (``mid``, ``spread_bp``, depth) are features and are plain floats. A column that no row of
the batch has (e.g. ``bid`` in a batch of trades) is ``None``; a row that lacks a value in a
present column holds NaN (encoded as the JSON constant ``NaN``).

Versions: v2 adds ``closed_ts``, when S1 closed the batch (the window's end on the event clock of
a replay, the connector's clock live; never before ``last_ts``). It is where a consumer that keeps
an event-time clock of its own (S4's paper venue) puts it once the batch is handed on, as the
in-process engine does at its batch timer. A v1 batch (records and recordings from before) has
none and closes at its last tick: :attr:`MarketBatch.close_ts`.

JSON is fast enough here (``bench/replay_publish.py``, BTC month): a 4-tick batch is ~310 bytes
and decodes + validates in ~36 µs; a 240-tick batch is ~10 KB at ~100 µs, i.e. ~2.4 M ticks/s, so
a binary columnar encoding would not move the bottleneck (the Python work per tick upstream).
"""

from __future__ import annotations

import struct
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from chimera.model import Market
from topics.base import Contract, EpochMs, Money, SymbolField
from topics.registry import DAY_MS, TOPICS, TopicSpec, register

MARKET_TOPICS = ("mkt.spot", "mkt.perp", "mkt.funding")

# one letter per tick kind, so the ``kind`` column stays small on the wire
TickKind = Literal["t", "q", "b", "k", "m"]
KIND_NAMES: dict[str, str] = {"t": "trade", "q": "quote", "b": "book", "k": "bar tick", "m": "mark"}

# columns every row has / columns present only when some row of the batch has them
DENSE_COLUMNS = ("ts", "kind", "price", "qty", "side")
OPTIONAL_COLUMNS = ("bid", "ask", "bid_qty", "ask_qty", "mid", "spread_bp", "mark", "depth_bid", "depth_ask")
LEVEL_COLUMNS = ("bid_px", "bid_sz", "ask_px", "ask_sz")


def topic_for_market(market: Market) -> str:
    """Return the logical topic of a market's tick batches."""
    return "mkt.spot" if market is Market.SPOT else "mkt.perp"


def float_array(values: list[float]) -> np.ndarray:
    """A list of floats as a new float64 array, packed by ``struct``: a third of ``np.asarray``'s
    time (NumPy inspects every element's type first), and on S2's path a batch's columns cost as
    much to convert as to decode (bench/features_pipeline.py --input trades)."""
    out = np.empty(len(values))
    struct.pack_into(f"{len(values)}d", out.data, 0, *values)
    return out


class MarketBatch(BaseModel):
    """One symbol's ticks over ``[first_ts, last_ts]``; ``seq`` counts this symbol's batches from 0."""

    model_config = ConfigDict(frozen=True, extra="forbid", ser_json_inf_nan="constants")

    v: Literal[1, 2] = 1
    symbol: str = Field(min_length=1)
    market: Market
    seq: int = Field(ge=0)
    first_ts: EpochMs = Field(description="event time of the first row, epoch ms")
    # ts is monotonic, so this bound (EpochMs's int64) holds for every row
    last_ts: EpochMs = Field(description="event time of the last row, epoch ms")
    closed_ts: EpochMs | None = Field(None, description="v2: when S1 closed the batch, epoch ms")

    ts: list[int]
    kind: list[TickKind]
    price: list[float] = Field(description="trade / bar-tick / mark price; NaN on quote and book rows")
    qty: list[float] = Field(description="traded quantity (bar ticks: a share of the bar volume)")
    side: list[int] = Field(description="aggressor: 1 buy, -1 sell, 0 unknown or not a trade")

    bid: list[float] | None = None
    ask: list[float] | None = None
    bid_qty: list[float] | None = None
    ask_qty: list[float] | None = None
    mid: list[float] | None = None
    spread_bp: list[float] | None = None
    mark: list[float] | None = None
    depth_bid: list[float] | None = Field(None, description="sum of bid sizes over the top levels")
    depth_ask: list[float] | None = None
    # top-of-book levels, row-major [row][level]; NaN-padded to the same depth on every row
    bid_px: list[list[float]] | None = None
    bid_sz: list[list[float]] | None = None
    ask_px: list[list[float]] | None = None
    ask_sz: list[list[float]] | None = None

    @model_validator(mode="after")
    def _check_shape(self) -> MarketBatch:
        n = len(self.ts)
        if n == 0:
            raise ValueError("a batch has at least one row")
        for name in DENSE_COLUMNS + OPTIONAL_COLUMNS + LEVEL_COLUMNS:
            col = getattr(self, name)
            if col is not None and len(col) != n:
                raise ValueError(f"column {name!r} has {len(col)} rows, ts has {n}")
        if self.ts[0] != self.first_ts or self.ts[-1] != self.last_ts:
            raise ValueError("first_ts/last_ts do not match the ts column")
        if self.ts != sorted(self.ts):
            raise ValueError("ts is not monotonic inside the batch")
        if (self.v == 2) != (self.closed_ts is not None):
            raise ValueError("closed_ts is the v2 field: a v2 batch has it, a v1 batch has not")
        if self.closed_ts is not None and self.closed_ts < self.last_ts:
            raise ValueError("closed_ts is before last_ts: a batch closes after its last row")
        return self

    @property
    def close_ts(self) -> int:
        """When the batch was closed: ``closed_ts``, or the last tick for a v1 batch."""
        return self.last_ts if self.closed_ts is None else self.closed_ts

    def __len__(self) -> int:
        return len(self.ts)

    def column(self, name: str) -> np.ndarray:
        """Return a column as a NumPy array (float64, NaN where absent; ts and side as int64)."""
        if name in ("ts", "side"):
            ints = getattr(self, name)
            return np.fromiter(ints, dtype=np.int64, count=len(ints))  # a fifth faster than asarray
        if name == "kind":
            return np.asarray(self.kind)
        col = getattr(self, name)
        if col is None:
            return np.full(len(self), np.nan)
        return float_array(col)

    def encode(self) -> bytes:
        """Return the compact JSON wire form (None columns left out)."""
        return self.model_dump_json(exclude_none=True).encode()

    @classmethod
    def decode(cls, data: bytes | str) -> MarketBatch:
        """Parse and validate the wire form."""
        return cls.model_validate_json(data)


class FundingEvent(Contract):
    """A perpetual's funding settlement. ``rate`` and ``mark_price`` are exact (they move money)."""

    symbol: SymbolField
    funding_time: EpochMs = Field(description="settlement time, epoch ms")
    rate: Money
    mark_price: Money | None = None
    ts: EpochMs


# market data is large and replayable from recordings: a week on the broker is enough to re-run a
# consumer that fell behind; funding moves money (S7 labels net of it), so it is kept longer
register(
    TopicSpec("mkt.spot", "symbol", MarketBatch, flow="S1 → S2, S4, S6"),
    TopicSpec("mkt.perp", "symbol", MarketBatch, flow="S1 → S2, S4, S6"),
    TopicSpec("mkt.funding", "symbol", FundingEvent, retention_ms=90 * DAY_MS, flow="S1 → S3, S6, S7"),
)

# logical topic -> schema
SCHEMAS: dict[str, type[BaseModel]] = {name: TOPICS[name].schema for name in MARKET_TOPICS}
