"""S2's feature recompute (spec §A S2.3, ``POST /features/recompute``): recorded market data of a time
window through the same core as the agent (``step``), backfilled into ``signals`` and recorded as one
``strategy_events`` row of kind ``FEATURE_RECOMPUTE``.

Pure parts, no I/O: :func:`recompute_features` (records -> the feature events of the bars whose
``t0`` lies in ``[start_ms, end_ms)``), :func:`backfill_rows` (those events + the rows already there
-> the rows to write) and :func:`recompute_event`. The shell, :class:`FeatureRecompute`, picks the
files, reads the existing rows and writes through the batching sink.

Choices that matter to a reader of the rows:

- **Warm-up from the recording's start.** ATR and the EMAs remember every bar before the window, so
  the core is fed from the first record of the files, not from ``start_ms``: a recompute then gives
  the very values the agent computes from the same input. Records at or after ``end_ms`` are not read.
- **The reference before the symbol.** ``rho`` pairs this symbol's returns with the spot series'
  (``step_reference``), which must be fed before the perpetual's ticks of the same time (see
  :mod:`agents.features.core`). Here the whole input is at hand, so every reference batch that starts
  by a perpetual batch's last tick is fed before it: the most pairs the core can find, whereas a
  worker's interleaving of two topics may lose some.
- **Versions.** ``signals`` is a ReplacingMergeTree(version) by ``signal_id`` that keeps the newest row
  *whole*. A row with S3's decision is rewritten with its decision columns untouched and
  ``version + 1``, so S3 re-writing its own row (version 1, on a redelivery) cannot undo the backfill.
  A bar S3 never decided on gets a features-only row at version 0, below S3's: should S3 decide on it
  later, its row (features and decision) wins. A features-only row recomputed again keeps its
  version: the two tie, and ReplacingMergeTree keeps the last inserted one, the newest recompute.
- **Idempotent record.** The ``FEATURE_RECOMPUTE`` row's ``event_id`` is a hash of what was asked and
  what came out; the same recompute asked twice is one event.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationInfo, field_validator

from agents.connectors.marketdata import Malformed, MarketEvent, MicroBatcher
from agents.connectors.recordings import Record, detect, load_file, load_files, select_files
from agents.features.config import FeatureConfig
from agents.features.core import FEATURES, FeatureEvent, advance, step, step_reference
from agents.features.state import FeatureState
from agents.features.ticks import ticks_from_batch
from chimera.model import Clock, Market, stable_hash
from chimera.settings import Settings
from sinks.clickhouse.backend import ClickHouseBackend, quote_string
from sinks.clickhouse.factory import open_sink
from topics.market import MarketBatch

REPO = Path(__file__).resolve().parents[2]
SHIPPED_DATA = REPO / "data"  # the real recordings shipped with the project (data/README.md)
KIND = "FEATURE_RECOMPUTE"
SIGNALS = "signals"
EVENTS = "strategy_events"
# the sink keeps books by Kafka coordinates; a recompute's rows come from a request, not a topic
SOURCE = "http.features.recompute"
FEATURES_ONLY_VERSION = 0  # below S3's signals rows (agents/strategy/signals.py VERSION = 1)
MAX_BATCH_TICKS = 1_000_000  # batches close on their window only (see _batch_window_ms)
# what a signals row carries from S2; every other column belongs to S3's decision and is kept
S2_COLUMNS = ("feature_names", "feature_values", "version")


class RecomputeRequest(BaseModel):
    """The body of ``POST /features/recompute``: the bars with ``t0`` in ``[start_ms, end_ms)``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    symbol: str = Field(pattern=r"^[A-Z0-9]{2,30}$", description="e.g. BTCUSDT (the perpetual's symbol)")
    start_ms: StrictInt = Field(ge=0, description="first bar close (t0) to recompute, epoch ms")
    end_ms: StrictInt = Field(ge=0, description="bars closing at or after this are left alone, epoch ms")
    files: list[str] | None = Field(
        None, min_length=1, description="recordings to read (default: the shipped data of the symbol)"
    )
    config_rev: str | None = Field(
        None, min_length=1, max_length=128, description="feature config rev (part of signal_id)"
    )

    @field_validator("end_ms")
    @classmethod
    def _after_start(cls, end_ms: int, info: ValidationInfo) -> int:
        # a field validator, not a model one, so the 422 names end_ms
        start = info.data.get("start_ms")
        if start is not None and end_ms <= start:
            raise ValueError(f"end_ms ({end_ms}) must be after start_ms ({start})")
        return end_ms


class RecomputeResult(BaseModel):
    """The answer: what was recomputed and written."""

    event_id: str
    symbol: str
    start_ms: int
    end_ms: int
    config_rev: str
    files: list[str]
    ticks: int = Field(description="ticks of the symbol fed into the core (warm-up included)")
    bars: int = Field(description="bars recomputed in the window = signals rows written")
    updated: int = Field(description="rows that existed (decision columns kept)")
    inserted: int = Field(description="features-only rows for bars without one")
    refused: int = Field(description="records the loaders or the core refused (skipped)")


class RecomputeInputError(ValueError):
    """The request names something unusable; ``field`` (and ``index``) say which part of the body."""

    def __init__(self, field: str, message: str, index: int | None = None) -> None:
        super().__init__(message)
        self.field = field
        self.index = index


@dataclass(frozen=True, slots=True)
class Recomputed:
    events: tuple[FeatureEvent, ...]  # bars with t0 in the window, in t0 order
    ticks: int  # the symbol's ticks fed into the core (both series)
    main_ticks: int  # of them, the perpetual's
    refused: int  # malformed records and batches the core refused (the agent dead-letters both)


def _batch_window_ms(cfg: FeatureConfig) -> int:
    """One rho window of bars (at most an hour): long batches are cheap, and a reference batch fed
    ahead by one of them stays far within the REF_LEAD_WINDOWS the core keeps."""
    return max(cfg.interval_ms, min(3_600_000, cfg.interval_ms * cfg.rho_window))


def recompute_features(
    records: Iterable[Record], symbol: str, start_ms: int, end_ms: int, cfg: FeatureConfig, levels: int = 5
) -> Recomputed:
    """The feature events of ``symbol``'s bars with ``t0`` in ``[start_ms, end_ms)``, computed by the
    core from every record of the symbol before ``end_ms`` (records must be in event-time order)."""
    batcher = MicroBatcher(_batch_window_ms(cfg), MAX_BATCH_TICKS, levels)
    batches: list[MarketBatch] = []
    refused = 0
    for record in records:
        if isinstance(record, Malformed):
            refused += 1
        elif isinstance(record, MarketEvent) and record.symbol == symbol:
            if record.ts >= end_ms:
                break  # files are in time order: nothing later can change a bar closing before end_ms
            batches.extend(batcher.add(record))
    batches.extend(batcher.flush())

    def order(b: MarketBatch) -> tuple[int, int, int]:
        # a reference batch goes before every perpetual batch that ends at or after its first tick
        return (b.last_ts, 1, b.seq) if b.market is Market.FUT else (b.first_ts, 0, b.seq)

    state = FeatureState(symbol=symbol)
    events: list[FeatureEvent] = []
    ticks = main_ticks = 0
    for batch in sorted(batches, key=order):
        try:
            arrays = ticks_from_batch(batch, cfg.depth_levels)
        except ValueError:  # what the agent dead-letters (e.g. a non-positive price)
            refused += 1
            continue
        ticks += len(arrays)
        if batch.market is Market.FUT:
            main_ticks += len(arrays)
            state, out = step(state, arrays, cfg)
            events.extend(out)
        else:
            state = step_reference(state, arrays, cfg)
    # the bars that ended by end_ms close as a quiet market's timer would close them
    state, out = advance(state, end_ms, cfg)
    events.extend(out)
    kept = tuple(e for e in events if start_ms <= e["t0"] < end_ms)
    return Recomputed(kept, ticks, main_ticks, refused)


def _num(x: float | int | None) -> float:
    return math.nan if x is None else float(x)  # the columns are not Nullable: NaN is null (as S3)


def feature_values(ev: FeatureEvent) -> list[float]:
    return [_num(ev["features"].get(name)) for name in FEATURES]


def backfill_rows(
    events: Sequence[FeatureEvent], existing: Mapping[str, Mapping[str, Any]]
) -> tuple[list[dict[str, Any]], int]:
    """The signals rows to write for ``events`` (and how many of them replace an existing row).

    ``existing`` maps signal_id to the row read with FINAL. Its decision columns are kept and, when
    it holds a decision, its version goes up by one; a bar without a row gets a features-only row
    (see the module notes)."""
    rows, updated = [], 0
    for ev in events:
        features = {"feature_names": list(FEATURES), "feature_values": feature_values(ev)}
        old = existing.get(ev["signal_id"])
        if old is not None:
            keep = {k: v for k, v in old.items() if k not in S2_COLUMNS}
            # only a decided row moves up: a features-only one stays below S3's version, and this
            # write ties with it, which the last inserted row (this one) wins
            version = int(old["version"]) + (1 if old["decision"] else 0)
            rows.append({**keep, **features, "version": version})
            updated += 1
            continue
        rows.append(
            {
                "signal_id": ev["signal_id"],
                "symbol": ev["symbol"],
                "market": Market.FUT.value,  # S2 computes on the perpetual's series
                "t0": ev["t0"],
                "ts": ev["t0"],  # event time of the bar; no decision time yet
                "config_bundle_id": "",
                "config_rev": ev["config_rev"],
                **features,
                "regime": "",
                "decision": "",
                "side": "",
                "model_p": math.nan,
                "reason": "",
                "size_mult": math.nan,
                "version": FEATURES_ONLY_VERSION,
            }
        )
    return rows, updated


def recompute_id(
    req: RecomputeRequest, cfg: FeatureConfig, files: Sequence[str], events: Sequence[FeatureEvent]
) -> str:
    """A hash of the question (symbol, window, config, files) and of the answer (every value)."""
    digest = hashlib.blake2b(digest_size=16)
    for ev in events:
        digest.update(json.dumps([ev["signal_id"], feature_values(ev)]).encode())
    return stable_hash(
        req.symbol, req.start_ms, req.end_ms, cfg.config_rev, cfg.rev(), *files, digest.hexdigest()
    )


def rows_digest(rows: Sequence[Mapping[str, Any]]) -> str:
    digest = hashlib.blake2b(digest_size=16)
    for row in rows:
        digest.update(json.dumps(row, sort_keys=True, default=str).encode())
    return digest.hexdigest()


def recompute_event(
    event_id: str, req: RecomputeRequest, cfg: FeatureConfig, result: dict[str, Any], now_ms: int
) -> dict[str, Any]:
    """The ``strategy_events`` row of one recompute (payload: JSON text, parsed by readers)."""
    payload = {**result, "config_params_rev": cfg.rev()}
    return {
        "event_id": event_id,
        "kind": KIND,
        "symbol": req.symbol,
        "pos_id": "",
        "intent_id": "",
        "signal_id": "",  # a window of signals, listed by symbol and t0 range in the payload
        "payload": json.dumps(payload, sort_keys=True, allow_nan=False),
        "ts": now_ms,
    }


def _peek_symbol(path: Path) -> str | None:
    for record in load_file(path):
        if isinstance(record, MarketEvent):
            return record.symbol
    return None


@lru_cache(maxsize=64)
def _shipped_symbols(root: Path, mtimes: tuple[tuple[str, float], ...]) -> dict[str, tuple[Path, ...]]:
    # keyed by the files' mtimes: a recording added or changed is seen without a restart
    by_symbol: dict[str, list[Path]] = {}
    for name, _ in mtimes:
        path = root / name
        symbol = _peek_symbol(path)
        if symbol is not None:
            by_symbol.setdefault(symbol, []).append(path)
    return {s: tuple(p) for s, p in by_symbol.items()}


def shipped_files(symbol: str, root: Path = SHIPPED_DATA) -> list[Path]:
    """The recordings under ``root`` whose first tick is ``symbol``'s (every shipped file holds one
    symbol; a depth-update file comes with its depth-snap file, as ``chimera replay`` reads it)."""
    candidates = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        try:
            detect(path)
        except ValueError:  # README, instrument descriptions, depth-update files
            continue
        candidates.append(path)
    chosen, _ = select_files(candidates)
    mtimes = tuple((str(p.relative_to(root)), p.stat().st_mtime) for p in chosen)
    return list(_shipped_symbols(root, mtimes).get(symbol, ()))


class FeatureRecompute:
    """The shell: files -> :func:`recompute_features` -> rows through the batching sink.

    Recomputes run one at a time (they read rows, then write version + 1: two at once would write the
    same version twice) in a worker thread (the backends are synchronous)."""

    def __init__(
        self,
        settings: Settings,
        backend: ClickHouseBackend,
        clock: Clock,
        config: FeatureConfig | None = None,
        data_root: Path = SHIPPED_DATA,
        allowed_roots: Sequence[Path] | None = None,
    ) -> None:
        self.settings = settings
        self.backend = backend
        self.clock = clock
        self.config = config or FeatureConfig()
        self.data_root = data_root
        # a body names files on this host: only recordings under these folders may be read
        roots = allowed_roots if allowed_roots is not None else (data_root, settings.data_dir)
        self.allowed_roots = tuple(Path(r).resolve() for r in roots)
        self._lock = asyncio.Lock()

    def config_for(self, req: RecomputeRequest) -> FeatureConfig:
        if req.config_rev is None:
            return self.config
        return FeatureConfig.model_validate({**self.config.model_dump(), "config_rev": req.config_rev})

    def files_for(self, req: RecomputeRequest) -> list[Path]:
        """The files to read; RecomputeInputError naming the body field when one is unusable."""
        if req.files is None:
            found = shipped_files(req.symbol, self.data_root)
            if not found:
                raise RecomputeInputError("symbol", f"no shipped recording holds {req.symbol}")
            return found
        paths = []
        for i, name in enumerate(req.files):
            path = Path(name)
            path = (path if path.is_absolute() else REPO / path).resolve()
            if not any(path.is_relative_to(root) for root in self.allowed_roots):
                roots = ", ".join(map(str, self.allowed_roots))
                raise RecomputeInputError("files", f"{name}: not under an allowed folder ({roots})", i)
            if not path.is_file():
                raise RecomputeInputError("files", f"{name}: no such file", i)
            try:
                detect(path)
            except ValueError as exc:
                raise RecomputeInputError("files", str(exc), i) from None
            paths.append(path)
        chosen, _ = select_files(paths)
        return chosen

    async def recompute(self, req: RecomputeRequest) -> RecomputeResult:
        async with self._lock:
            return await asyncio.to_thread(self.run, req)

    def run(self, req: RecomputeRequest) -> RecomputeResult:
        cfg = self.config_for(req)
        paths = self.files_for(req)
        out = recompute_features(
            load_files(paths), req.symbol, req.start_ms, req.end_ms, cfg, self.settings.mkt_book_levels
        )
        if not out.main_ticks:
            field = "symbol" if req.files is None else "files"
            raise RecomputeInputError(
                field, f"the files hold no perpetual ticks of {req.symbol} before end_ms"
            )
        names = [self._shown(p) for p in paths]

        sink = open_sink(self.settings, self.clock, self.backend)
        existing = self._existing(sink.schema(SIGNALS).columns, req)
        rows, updated = backfill_rows(out.events, existing)
        event_id = f"{KIND}:{recompute_id(req, cfg, names, out.events)}"
        # the sink names a batch by offsets and its end rows, and these offsets restart at 0 on every
        # call: a digest of every row keeps two different writes from sharing a token (the second
        # would be dropped), while the same rows written again are dropped where tokens exist
        sink.token_salt = f"{rows_digest(rows)}:"
        result = RecomputeResult(
            event_id=event_id,
            symbol=req.symbol,
            start_ms=req.start_ms,
            end_ms=req.end_ms,
            config_rev=cfg.config_rev,
            files=names,
            ticks=out.ticks,
            bars=len(rows),
            updated=updated,
            inserted=len(rows) - updated,
            refused=out.refused,
        )
        for offset, row in enumerate(rows):
            sink.add(row, table=SIGNALS, topic=SOURCE, partition=0, offset=offset)
        # last: the event says the backfill is in, so it is written after the rows (the sink writes
        # batches in the order they were opened)
        event = recompute_event(
            event_id, req, cfg, result.model_dump(exclude={"event_id"}), self.clock.now_ms()
        )
        sink.add(event, table=EVENTS, topic=SOURCE, partition=0, offset=len(rows))
        sink.flush()  # SinkBackpressure: nothing committed to the caller, who may retry
        letters = sink.take_dead_letters()
        if letters:  # rows built here that the table refuses: a bug, not the caller's fault
            raise RuntimeError(f"{len(letters)} rows refused by ClickHouse: {letters[0].error}")
        return result

    def _existing(self, columns: Sequence[str], req: RecomputeRequest) -> dict[str, dict[str, Any]]:
        sql = (
            f"SELECT {', '.join(columns)} FROM {SIGNALS} FINAL WHERE symbol = {quote_string(req.symbol)} "
            f"AND t0 >= {int(req.start_ms)} AND t0 < {int(req.end_ms)}"
        )
        res = self.backend.query(sql)
        rows = [dict(zip(res.columns, r, strict=True)) for r in res.rows]
        return {str(r["signal_id"]): r for r in rows}

    def _shown(self, path: Path) -> str:
        return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)
