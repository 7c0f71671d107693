"""Where a replay's data ends: each perpetual's own price data, and the whole run.

Recordings of several symbols need not cover the same span: the shipped XRP week ends six weeks
before the BTC month does, and XRP's mark and funding series run on four weeks past its last
candle. Without an end of its own, a position open on XRP's last bar would be held through the gap
(funding settled on it from stale marks, its gate reservation held while BTC trades) until the
whole run ends. So both runners (the engine and the Kafka driver) do the same:

- a symbol's records after its last price tick (every kind but a mark) are not replayed: a bar
  closed only by a later mark tick would open a position no price could move;
- once S1 has closed the symbol's last batch (its end plus the batch window, at the first record
  at or past that time), every position still open on it is closed at market by a reduce-only
  ``END_OF_DATA`` intent naming it, as the run's end closes the rest (``END_OF_RUN``).

Ids derive from the pos_id and the reason, so a rerun sends the same orders on either path.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Protocol

from agents.connectors.marketdata import Malformed, MarketEvent
from agents.connectors.recordings import Record
from chimera.model import Market, Side, intent_id_for
from topics.market import FundingEvent
from topics.trading import OrderIntent

END_OF_RUN = "END_OF_RUN"
END_OF_DATA = "END_OF_DATA"
CLOSE_REASONS = (END_OF_DATA, END_OF_RUN)
Key = tuple[Market, str]


class OpenPosition(Protocol):
    """What a close needs of a position: S6's ``Position`` or one read back from ``pos.events``."""

    @property
    def pos_id(self) -> str: ...
    @property
    def signal_id(self) -> str | None: ...
    @property
    def symbol(self) -> str: ...
    @property
    def market(self) -> Market: ...
    @property
    def side(self) -> Side: ...
    @property
    def qty(self) -> Decimal: ...


def close_intent(pos: OpenPosition, now_ms: int, reason: str) -> OrderIntent:
    """A market order closing ``pos`` as S5 de-risks: reduce-only, naming the position, so S6 books
    the fill (EXTERNAL) and closes the position itself — its stop cancelled, its reservation
    released."""
    return OrderIntent(
        intent_id=intent_id_for(pos.pos_id, reason),
        signal_id=pos.signal_id,
        pos_id=pos.pos_id,
        symbol=pos.symbol,
        market=pos.market,
        side=pos.side.opposite(),
        qty=pos.qty,
        exec="market",
        reduce_only=True,
        ts=now_ms,
        source="reconciler",
        reason=reason,
    )


def _key(rec: MarketEvent | FundingEvent) -> Key:
    return (Market.FUT, rec.symbol) if isinstance(rec, FundingEvent) else (rec.market, rec.symbol)


class DataEnds:
    """The ends of ``records``' price series; :meth:`trim` and :meth:`due` are what the runners
    call. One per run: :meth:`due` reports each symbol once."""

    def __init__(self, records: Iterable[Record], window_ms: int) -> None:
        self.window_ms = window_ms
        self.last: dict[Key, int] = {}
        for r in records:
            if isinstance(r, MarketEvent) and r.kind != "m":
                self.last[r.market, r.symbol] = max(r.ts, self.last.get((r.market, r.symbol), r.ts))
        self.dropped: Counter[Key] = Counter()
        self._pending = sorted((ts + window_ms, sym) for (m, sym), ts in self.last.items() if m is Market.FUT)

    def trim(self, records: Sequence[Record]) -> list[Record]:
        """``records`` without each series' records after its last price tick (counted)."""
        out: list[Record] = []
        for r in records:
            if not isinstance(r, Malformed):
                end = self.last.get(_key(r))
                if end is not None and r.ts > end:
                    self.dropped[_key(r)] += 1
                    continue
            out.append(r)
        return out

    def due(self, ts: int) -> list[str]:
        """The perpetuals whose last batch S1 has closed by event time ``ts`` (their end plus the
        window), not reported before: their positions are to be closed now."""
        out = []
        while self._pending and self._pending[0][0] <= ts:
            out.append(self._pending.pop(0)[1])
        return out

    def notes(self) -> list[str]:
        out = []
        for (market, sym), n in sorted(self.dropped.items()):
            end = datetime.fromtimestamp(self.last[market, sym] / 1000, UTC).strftime("%Y-%m-%d %H:%M")
            out.append(
                f"{sym} {market.value}: {n:,} mark/funding records after its last price tick ({end} UTC) "
                "not replayed; what was open on it then is closed at market (END_OF_DATA)"
            )
        return out
