"""The core's input: one series' ticks as parallel NumPy columns, and the glue from a MarketBatch."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from topics.market import MarketBatch

BAR_PRICE_KINDS = ("t", "k")  # trades and bar ticks build bars; quotes, book and mark rows do not
_TRADE, _BAR_TICK = (ord(k) for k in BAR_PRICE_KINDS)
COLUMNS = ("ts", "price", "qty", "bid", "ask", "spread_bp", "depth")


@dataclass(frozen=True, slots=True)
class TickArrays:
    """Ticks in event-time order. ``price`` is NaN on rows that carry no traded price.

    Optional book columns are ``None`` when no row has them and NaN on rows that lack them.
    ``depth`` is the summed top-k bid plus ask size of a book row.
    """

    ts: np.ndarray
    price: np.ndarray
    qty: np.ndarray
    bid: np.ndarray | None = None
    ask: np.ndarray | None = None
    spread_bp: np.ndarray | None = None
    depth: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = len(self.ts)
        if self.ts.dtype.kind not in "iu":
            raise ValueError(f"ts must hold integer epoch ms, got dtype {self.ts.dtype}")
        for name in ("price", "qty", "bid", "ask", "spread_bp", "depth"):
            col = getattr(self, name)
            if col is not None and len(col) != n:
                raise ValueError(f"column {name!r} has {len(col)} rows, ts has {n}")
        # the arrays' own any/all: np.any's dispatch costs more than the check on a micro-batch
        if n > 1 and (self.ts[1:] < self.ts[:-1]).any():
            raise ValueError("ts is not monotonic")
        price = self.price
        if (price <= 0).any() or np.isinf(price).any():
            raise ValueError("price must be positive and finite (NaN marks rows without a price)")
        if not (self.qty >= 0).all():  # also refuses NaN, which would poison the bar's volume
            raise ValueError("qty must be >= 0 on every row (0 on rows without a trade)")

    def __len__(self) -> int:
        return len(self.ts)

    def slice(self, start: int, stop: int) -> TickArrays:
        """Return rows ``[start, stop)`` (views, no copy; rows of checked columns need no new check)."""
        part = object.__new__(TickArrays)
        for name in COLUMNS:
            col = getattr(self, name)
            object.__setattr__(part, name, None if col is None else col[start:stop])
        return part

    @classmethod
    def from_prices(cls, ts: np.ndarray, price: np.ndarray, qty: np.ndarray | None = None) -> TickArrays:
        """Build trade-only ticks (qty defaults to zero)."""
        ts64 = np.asarray(ts, dtype=np.int64)
        px = np.asarray(price, dtype=np.float64)
        q = np.zeros(len(px)) if qty is None else np.asarray(qty, dtype=np.float64)
        return cls(ts=ts64, price=px, qty=q)


def ticks_from_batch(batch: MarketBatch, depth_levels: int) -> TickArrays:
    """Turn a market batch into core columns: bar prices from trade/bar-tick rows, book columns as given.

    Depth prefers the per-level sizes (top ``depth_levels`` of each side), then the batch's summed
    ``depth_bid``/``depth_ask``, then the best-level ``bid_qty``/``ask_qty``. The spread is the
    batch's ``spread_bp`` or, failing that, computed from bid and ask.
    """
    price = batch.column("price")
    # rows of other kinds carry no bar price; a kind is one ASCII letter (TickKind): a byte per row
    codes = np.frombuffer("".join(batch.kind).encode("ascii"), dtype=np.uint8)
    no_bar_price = (codes != _TRADE) & (codes != _BAR_TICK)
    if no_bar_price.any():
        price[no_bar_price] = np.nan
    bid = batch.column("bid") if batch.bid is not None else None
    ask = batch.column("ask") if batch.ask is not None else None
    spread: np.ndarray | None = None
    if batch.spread_bp is not None:
        spread = batch.column("spread_bp")
    elif bid is not None and ask is not None:
        spread = (ask - bid) / ((ask + bid) / 2.0) * 1e4
    depth: np.ndarray | None = None
    if batch.bid_sz is not None and batch.ask_sz is not None:
        bsz = np.asarray(batch.bid_sz, dtype=np.float64)[:, :depth_levels]
        asz = np.asarray(batch.ask_sz, dtype=np.float64)[:, :depth_levels]
        depth = np.nansum(bsz, axis=1) + np.nansum(asz, axis=1)
        depth[np.all(np.isnan(bsz), axis=1) & np.all(np.isnan(asz), axis=1)] = np.nan
    elif batch.depth_bid is not None and batch.depth_ask is not None:
        depth = batch.column("depth_bid") + batch.column("depth_ask")
    elif batch.bid_qty is not None and batch.ask_qty is not None:
        depth = batch.column("bid_qty") + batch.column("ask_qty")
    qty = batch.column("qty")
    if not np.isfinite(qty).all():  # quote and book rows: NaN is no trade (0); nan_to_num costs more
        qty[np.isnan(qty)] = 0.0
        if not np.isfinite(qty).all():
            qty = np.nan_to_num(qty)
    return TickArrays(
        ts=batch.column("ts"),
        price=price,
        qty=qty,
        bid=bid,
        ask=ask,
        spread_bp=spread,
        depth=depth,
    )
