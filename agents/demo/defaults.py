"""What ``chimera demo`` trades when it is not told: the bundle from the symbols in the data, and the
regime from whether the bundle's regime symbol has data on every day another symbol is traded.

Bundle (no ``--bundle``): the first of :data:`BUNDLES` that lists every symbol the data has price
ticks for, so a BTC-only file keeps the BTC bundle on 1-minute bars and the shipped data (the BTC
month and the XRP week) is traded on both perpetuals, XRP's funding settled on open positions. If
none lists them all, the one listing most; the others are decided on but not traded
(``UNKNOWN_SYMBOL``), and a note says so.

Regime (no ``--regime``): S2's daily job, market-wide, ranks the days of one symbol's closes (the
bundle's first instrument, as the engine does). On a day without its closes no label is written,
and S3 skips every entry with ``REGIME``: the shipped XRP week lies six weeks before the BTC month,
so the job would trade only one of them. Then NORMAL is pinned instead, and a note says why.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from agents.config.bundle import Bundle, parse_bundle
from agents.connectors.marketdata import MarketEvent
from agents.connectors.recordings import Record
from agents.features.regime import DAY_MS

REPO = Path(__file__).resolve().parents[2]
DEFAULT_BUNDLE = REPO / "agents" / "config" / "default_bundle.json"  # BTCUSDT, 1-minute bars
BTC_XRP_BUNDLE = REPO / "agents" / "demo" / "btc_xrp_5m_bundle.json"  # BTCUSDT + XRPUSDT, 5-minute
BUNDLES = (DEFAULT_BUNDLE, BTC_XRP_BUNDLE)  # narrowest first
DAILY = "DAILY"  # --regime DAILY: the daily job even where it leaves a symbol without a label
PINNED = "NORMAL"


@dataclass
class Choice:
    bundle: Bundle
    path: Path | None  # None: the caller's own bundle
    regime: str | None  # a pinned label, or None for the daily job
    notes: list[str] = field(default_factory=list)


def priced_days(records: Iterable[Record]) -> dict[str, set[int]]:
    """Each symbol's UTC days with a price tick (mark-only ticks move no bar: the XRP marks run on
    four weeks past the last candle)."""
    days: dict[str, set[int]] = defaultdict(set)
    for r in records:
        if isinstance(r, MarketEvent) and r.price is not None:
            days[r.symbol].add(r.ts // DAY_MS)
    return dict(days)


def pick_bundle(symbols: set[str]) -> tuple[Path, Bundle, list[str]]:
    loaded = [(p, parse_bundle(p.read_text())) for p in BUNDLES]
    covering = [(p, b) for p, b in loaded if symbols <= set(b.strategy.instruments)]
    path, bundle = (
        covering[0]
        if covering
        else max(loaded, key=lambda pb: len(symbols & set(pb[1].strategy.instruments)))
    )
    left = sorted(symbols - set(bundle.strategy.instruments))
    notes = [f"not traded (no shipped bundle lists them): {', '.join(left)}"] if left else []
    return path, bundle, notes


def _day(d: int) -> str:
    return datetime.fromtimestamp(d * DAY_MS / 1000, UTC).date().isoformat()


def pick_regime(bundle: Bundle, days: dict[str, set[int]]) -> tuple[str | None, list[str]]:
    """The daily job if the regime symbol has closes on every day a traded symbol has data."""
    instruments = list(bundle.strategy.instruments)
    ranked = instruments[0]
    have = days.get(ranked, set())
    for sym in instruments[1:]:
        missing = sorted(days.get(sym, set()) - have)
        if missing:
            span = f"{len(missing)} day(s), {_day(missing[0])} .. {_day(missing[-1])}"
            why = f"S2's daily job ranks {ranked}'s days, and {ranked} has no data on {sym}'s ({span})"
            return PINNED, [f"regime pinned {PINNED}: {why}; --regime {DAILY} runs the job anyway"]
    return None, []


def choose(records: list[Record], bundle: Bundle | None, regime: str | None) -> Choice:
    """The run's bundle and regime: the caller's where given, else the defaults above."""
    days = priced_days(records)
    notes: list[str] = []
    path = None
    if bundle is None:
        path, bundle, notes = pick_bundle(set(days))
    if regime == DAILY:
        return Choice(bundle, path, None, notes)
    if regime is not None:
        return Choice(bundle, path, regime, notes)
    pinned, why = pick_regime(bundle, days)
    return Choice(bundle, path, pinned, notes + why)
