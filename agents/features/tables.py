"""S2's one table, ``features``: per symbol, the core's :class:`FeatureState` and the source offsets
already folded into it. Keyed by symbol and partitioned like ``mkt.perp``/``mkt.spot``; the
changelog carries it across restarts (the store is memory).

The offsets make a redelivered batch harmless: without exactly-once, a worker killed after writing
the changelog but before committing its input offsets is handed those batches again, and folding a
batch into the state twice would count its ticks twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from faust.web import Request, Response, View

from agents.app import app
from agents.features.state import FeatureState

ENTRY_VERSION = 1


@dataclass(frozen=True, slots=True)
class FeatureEntry:
    state: FeatureState
    offsets: tuple[tuple[str, int], ...] = ()  # (logical topic, offset of the last batch folded in)

    def has_applied(self, topic: str, offset: int) -> bool:
        return offset <= dict(self.offsets).get(topic, -1)

    def after(self, state: FeatureState, topic: str, offset: int) -> FeatureEntry:
        offsets = {**dict(self.offsets), topic: offset}
        return FeatureEntry(state, tuple(sorted(offsets.items())))

    def to_dict(self) -> dict[str, Any]:
        return {"v": ENTRY_VERSION, "state": self.state.to_dict(), "offsets": dict(self.offsets)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FeatureEntry:
        if d.get("v") != ENTRY_VERSION:
            raise ValueError(f"feature entry version {d.get('v')!r} is not {ENTRY_VERSION}")
        offsets = tuple(sorted((str(t), int(o)) for t, o in d["offsets"].items()))
        return cls(FeatureState.from_dict(d["state"]), offsets)


feature_table = app.Table(
    "features",
    key_type=bytes,  # Faust then writes the changelog key raw: the plain symbol, as on the input
    partitions=app.settings.topic_partitions,
    help="S2 per-symbol feature state (FeatureEntry.to_dict), keyed by symbol",
)


@app.page("/features/{symbol}/")
async def entry_view(web: View, request: Request, symbol: str) -> Response:
    """This worker's entry for a symbol; 404 when it holds none (another worker may own the symbol).

    Local on purpose: Faust's table routing hashes keys with its own partitioner, while an entry
    sits on the partition its input batch came in on, whatever partitioner the producer used.
    """
    value = feature_table.get(symbol.encode())
    if value is None:
        raise web.NotFound(f"no feature state for {symbol} on this worker")
    return web.json(value)


# key -> (the dict this worker stored or decoded last, its entry): a window's load of a symbol this
# worker stored itself is the entry it already holds, not a decode of the dict it just encoded
# (~50 µs per window and symbol). A dict recovered from the changelog is another object: decoded.
_held: dict[bytes, tuple[dict[str, Any], FeatureEntry]] = {}


def load(symbol: str) -> FeatureEntry:
    key = symbol.encode()
    d = feature_table.get(key)
    if d is None:
        return FeatureEntry(FeatureState(symbol=symbol))
    held = _held.get(key)
    if held is not None and held[0] is d:
        return held[1]
    entry = FeatureEntry.from_dict(d)
    _held[key] = (d, entry)
    return entry


def store(entry: FeatureEntry, partition: int) -> None:
    """Write the entry to the local store and its changelog record to ``partition`` (the input's).

    What ``table[key] = value`` does, with the partition given rather than read from Faust's
    current event: the agent stores a window's entries after the window, outside any one event.
    """
    key, value = entry.state.symbol.encode(), entry.to_dict()
    feature_table.send_changelog(partition, key, value)
    feature_table.data[key] = value
    _held[key] = (value, entry)
