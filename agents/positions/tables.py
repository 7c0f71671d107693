"""S6's one table, ``positions``: per symbol, the core's :class:`~agents.positions.state.SymbolBook`
(its JSON) and the ``positions_snapshots`` rows not yet known to be in ClickHouse. Keyed by symbol
and partitioned like every trading-path topic; the changelog carries it across restarts.

Order per event (at-least-once, no exactly-once): the intents and position events are on the
broker *before* the book that made them is stored. A crash in between redelivers the event; the
core, run on the old book, sends the same ids again (S4 and the sinks fold them). Stored first, a
book would make the re-run a no-op and the stop it asked for would never be sent.

Rows go through the batching sink, which writes on Faust's commit and on a timer — after the book
is stored. So the book carries its rows until the sink has written them; a restart queues them
again and ReplacingMergeTree folds the ones written twice (key ``(pos_id, seq)``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from agents.app import app

ENTRY_VERSION = 1


def _cell(value: Any) -> Any:
    return {"$d": format(value, "f")} if isinstance(value, Decimal) else value


def _uncell(value: Any) -> Any:
    return Decimal(value["$d"]) if isinstance(value, dict) and set(value) == {"$d"} else value


@dataclass
class PositionsEntry:
    book: dict[str, Any] | None = None  # SymbolBook.to_json(); None before the symbol's first event
    rows: list[dict[str, Any]] = field(default_factory=list)  # positions_snapshots rows not yet written

    def to_dict(self) -> dict[str, Any]:
        rows = [{k: _cell(v) for k, v in row.items()} for row in self.rows]
        return {"v": ENTRY_VERSION, "book": self.book, "rows": rows}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> PositionsEntry:
        if d.get("v") != ENTRY_VERSION:
            raise ValueError(f"positions entry version {d.get('v')!r} is not {ENTRY_VERSION}")
        rows = [{k: _uncell(v) for k, v in row.items()} for row in d.get("rows", [])]
        return cls(d.get("book"), rows)


positions_table = app.Table(
    "positions",
    key_type=bytes,  # the changelog key is the plain symbol, as on the inputs
    partitions=app.settings.topic_partitions,
    help="S6 per-symbol position book (agents.positions.tables.PositionsEntry), keyed by symbol",
)


def load(symbol: str) -> PositionsEntry:
    d = positions_table.get(symbol.encode())
    return PositionsEntry() if d is None else PositionsEntry.from_dict(d)


def store(symbol: str, entry: PositionsEntry) -> None:
    # a new value every time: the changelog is written only on assignment
    positions_table[symbol.encode()] = entry.to_dict()
