"""Loaders for recorded market data. ``load_files(paths)`` picks a loader per file by its name and
merges the files' records in event-time order, so ticks of one symbol from several files stay
monotonic.

| file name | loader |
|---|---|
| ``*.csv`` with ``timestamp,open,high,low,close,volume`` (e.g. ``btc-perp-..._1m.csv``) | bars -> 4 ticks |
| ``*trades.parquet`` / ``*quotes.parquet`` | Binance trades / best bid-ask (NautilusTrader) |
| ``*depth-snap.csv`` (+ its ``*depth-update.csv``) | Binance depth snapshot + diffs -> books |
| ``*book_snapshot_*.csv`` | Tardis book snapshots |
| ``PAIR-TF[-futures].feather`` / ``-mark`` / ``-funding_rate`` | freqtrade candles / mark / funding |
| ``*trades.json[.gz]`` | ccxt trade dicts (freqtrade) |
| ``*.jsonl[.gz]`` | ``chimera record`` output |
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable
from pathlib import Path

from agents.connectors.recordings.bars import load_bar_csv
from agents.connectors.recordings.base import Record, Records
from agents.connectors.recordings.freqtrade import load_candles, load_funding, load_trades_json
from agents.connectors.recordings.nautilus import (
    load_depth,
    load_instrument,
    load_quotes_parquet,
    load_tardis_book,
    load_trades_parquet,
)
from agents.connectors.recordings.recorded import load_recording
from chimera.model import Market

__all__ = [
    "Record",
    "Records",
    "detect",
    "is_instrument",
    "load_file",
    "load_files",
    "load_instrument",
    "select_files",
]

Loader = Callable[[Path], Records]


def _bar_csv(path: Path) -> Records:
    # the NautilusTrader BTC perpetual month: a Binance-style USDT perpetual named BTCUSDT here
    name = path.name.lower()
    base = name.split("-", 1)[0].split("_", 1)[0]
    if base in ("ftx", "binance") and "-" in name:
        base = name.split("-")[1]
    symbol = base.upper() if base.upper().endswith(("USDT", "USDC", "BUSD")) else base.upper() + "USDT"
    market = Market.FUT if "perp" in name or "futures" in name else Market.SPOT
    return load_bar_csv(path, symbol, market)


def is_instrument(path: Path) -> bool:
    return path.name.endswith("instrument.txt")


def detect(path: Path) -> Loader:
    """Return the loader for a file, or raise ValueError saying which names are understood."""
    name = path.name.lower()
    if name.endswith((".jsonl", ".jsonl.gz")):
        return load_recording
    if name.endswith((".json", ".json.gz")) and "trades" in name:
        return load_trades_json
    if name.endswith(".parquet"):
        if "trades" in name:
            return load_trades_parquet
        if "quotes" in name:
            return load_quotes_parquet
    if name.endswith(".feather"):
        if "-funding_rate" in name:
            return load_funding
        return load_candles
    if name.endswith(".csv"):
        if "depth-snap" in name:
            return load_depth
        if "depth-update" in name:
            raise ValueError(f"{path}: a depth-update file replays with its depth-snap file; pass that one")
        if "book_snapshot" in name:
            return load_tardis_book
        return _bar_csv
    raise ValueError(
        f"{path}: unknown recording format; expected a bar .csv, trades/quotes .parquet, depth-snap .csv, "
        "Tardis book_snapshot .csv, freqtrade .feather, ccxt trades .json.gz or a chimera .jsonl recording"
    )


def load_file(path: Path) -> Records:
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    return detect(path)(path)


def _ts(record: Record) -> int:
    return record.ts


def select_files(paths: Iterable[Path]) -> tuple[list[Path], list[str]]:
    """Pick the files to load and say why the others are left out.

    Instrument descriptions are not market data; a depth-update file is read with the depth-snap
    file beside it. Raise ValueError for a file no loader understands.
    """
    given = [Path(p) for p in paths]
    paired = {p.with_name(p.name.replace("-snap", "-update")) for p in given if "depth-snap" in p.name}
    chosen, notes = [], []
    for path in given:
        if is_instrument(path):
            notes.append(f"skipping {path}: an instrument description, not market data")
        elif path in paired:
            notes.append(f"{path} is read with its depth-snap file")
        else:
            detect(path)
            chosen.append(path)
    return chosen, notes


def load_files(paths: Iterable[Path]) -> Records:
    """Merge the records of several files by event time (each file is already in time order)."""
    chosen, _ = select_files(paths)
    return heapq.merge(*(load_file(p) for p in chosen), key=_ts)
