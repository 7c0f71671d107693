"""``POST /features/recompute`` through the FastAPI app (httpx's ASGI transport) on real ClickHouse
(chdb in-process and clickhouse-server 18.16), on the real BTC month: ``signals`` rows seeded with
wrong features get the core's features back with their decision columns kept, bars without a row
get a features-only row, one ``FEATURE_RECOMPUTE`` event is written, and a second call changes no
row count. The expected features come from the core run on the whole month by the feature tests'
own loader (pandas), not through the endpoint's loading path."""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from features_kit import bar_replay_ticks, load_bars, run_batches

from agents.features.config import FeatureConfig
from agents.features.core import FEATURES, FeatureEvent
from agents.features.http import PATH, create_app
from agents.features.recompute import KIND, SHIPPED_DATA, FeatureRecompute
from chimera.model import TestClock
from chimera.settings import Settings
from sinks.clickhouse.backend import ClickHouseBackend, quote_string
from sinks.clickhouse.chdb_backend import ChdbBackend, current_store
from sinks.clickhouse.migrate import migrate
from sinks.clickhouse.server_backend import ServerBackend
from sinks.clickhouse.sink import BatchingSink

SYMBOL = "BTCUSDT"
BTC_MONTH = "data/nautilus/btc-perp-20211231-20220201_1m.csv"
NOW_MS = 1_700_000_000_000
FIRST, BARS = 20_000, 120  # the window: 120 bars two weeks into the month (long warmed up)
DECISION_COLUMNS = (
    "market",
    "ts",
    "config_bundle_id",
    "config_rev",
    "regime",
    "decision",
    "side",
    "model_p",
    "reason",
    "size_mult",
)


@pytest.fixture(scope="module")
def core_events() -> list[FeatureEvent]:
    """The core on the whole month, in batches of 512 ticks (the features do not depend on them)."""
    _, events = run_batches(bar_replay_ticks(load_bars()), FeatureConfig(), [512] * 400)
    return events


@pytest.fixture(params=["chdb", pytest.param("server", marks=pytest.mark.clickhouse)])
def backend(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ClickHouseBackend]:
    """A migrated database of this test's own, on chdb (this process's one store) and on the server."""
    name = f"t_recompute_{uuid.uuid4().hex[:10]}"
    conn: ClickHouseBackend
    if request.param == "chdb":
        conn = ChdbBackend(current_store() or tmp_path_factory.mktemp("chdb"), name)
    else:
        conn = ServerBackend(request.getfixturevalue("clickhouse_url"), name)
    migrate(conn)
    yield conn
    conn.execute(f"DROP DATABASE IF EXISTS {conn.database}")
    conn.close()


@pytest.fixture
async def api(backend: ClickHouseBackend, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(data_dir=tmp_path, sink_batch_rows=50)  # several signals batches per call
    service = FeatureRecompute(settings, backend, TestClock(NOW_MS))
    transport = httpx.ASGITransport(app=create_app(service))
    async with httpx.AsyncClient(transport=transport, base_url="http://s2") as http:
        yield http


def window(events: list[FeatureEvent]) -> tuple[int, int, list[FeatureEvent]]:
    inside = events[FIRST : FIRST + BARS]
    return inside[0]["t0"], inside[-1]["t0"] + 1, inside


def decided_row(ev: FeatureEvent, n: int, symbol: str = SYMBOL) -> dict[str, Any]:
    """A row as S3 writes it (version 1), with wrong features: other names, other values."""
    return {
        "signal_id": ev["signal_id"] if symbol == SYMBOL else f"sig-{symbol}-{ev['t0']}",
        "symbol": symbol,
        "market": "FUT",
        "t0": ev["t0"],
        "ts": ev["t0"] + 7,
        "config_bundle_id": f"bundle-{n % 3}",
        "config_rev": "rev-s3",
        "feature_names": ["close", "stale"],
        "feature_values": [1.0, -1.0],
        "regime": "NORMAL",
        "decision": "open" if n % 4 == 0 else "skip",
        "side": "BUY" if n % 4 == 0 else "",
        "model_p": 0.25 + n / 1000,
        "reason": f"RULE_{n}",
        "size_mult": 1.5,
        "version": 1,
    }


def seed(backend: ClickHouseBackend, rows: list[dict[str, Any]]) -> None:
    sink = BatchingSink(backend, TestClock(NOW_MS))
    for offset, row in enumerate(rows):
        sink.add(row, table="signals", topic="seed", partition=0, offset=offset)
    sink.flush()
    assert not sink.take_dead_letters()


def signals(
    backend: ClickHouseBackend, where: str = f"symbol = {quote_string(SYMBOL)}"
) -> list[dict[str, Any]]:
    res = backend.query(f"SELECT * FROM signals FINAL WHERE {where} ORDER BY t0")
    return [dict(zip(res.columns, r, strict=True)) for r in res.rows]


def recompute_events(backend: ClickHouseBackend) -> list[dict[str, Any]]:
    res = backend.query(f"SELECT * FROM strategy_events FINAL WHERE kind = {quote_string(KIND)}")
    return [dict(zip(res.columns, r, strict=True)) for r in res.rows]


def same(x: float, y: float) -> bool:
    return (math.isnan(x) and math.isnan(y)) or abs(x - y) <= 1e-9


def assert_features(row: dict[str, Any], ev: FeatureEvent) -> None:
    assert list(row["feature_names"]) == list(FEATURES)
    values = [ev["features"][n] for n in FEATURES]
    want = [math.nan if v is None else float(v) for v in values]
    bad = [n for n, x, y in zip(FEATURES, row["feature_values"], want, strict=True) if not same(x, y)]
    assert not bad, (row["signal_id"], bad)


async def test_recompute_backfills_the_window_and_keeps_the_decisions(
    api: httpx.AsyncClient, backend: ClickHouseBackend, core_events: list[FeatureEvent]
) -> None:
    start, end, inside = window(core_events)
    decided = {ev["signal_id"]: decided_row(ev, n) for n, ev in enumerate(inside) if n % 2 == 0}
    before, after = core_events[FIRST - 1], core_events[FIRST + BARS]
    untouched = [decided_row(before, 1), decided_row(after, 2), decided_row(inside[1], 3, symbol="ETHUSDT")]
    seed(backend, [*decided.values(), *untouched])

    reply = await api.post(PATH, json={"symbol": SYMBOL, "start_ms": start, "end_ms": end})
    assert reply.status_code == 200, reply.text
    result = reply.json()
    assert (result["bars"], result["updated"], result["inserted"]) == (BARS, BARS // 2, BARS // 2)
    assert result["config_rev"] == "local" and BTC_MONTH in result["files"]

    def check(version_bump: int) -> None:
        rows = {
            r["signal_id"]: r
            for r in signals(backend, f"symbol = 'BTCUSDT' AND t0 >= {start} AND t0 < {end}")
        }
        assert list(rows) == [ev["signal_id"] for ev in inside]  # one row per bar, in t0 order
        for ev in inside:
            row = rows[ev["signal_id"]]
            assert_features(row, ev)
            seeded = decided.get(ev["signal_id"])
            if seeded is None:  # a bar S3 never decided on: a features-only row below S3's version
                assert (row["decision"], row["reason"], row["config_rev"], row["version"]) == (
                    "",
                    "",
                    "local",
                    0,
                )
                assert (row["ts"], row["market"]) == (ev["t0"], "FUT")
            else:
                assert {c: row[c] for c in DECISION_COLUMNS} == {c: seeded[c] for c in DECISION_COLUMNS}
                assert row["version"] == 1 + version_bump

        outside = signals(backend, f"t0 < {start} OR t0 >= {end} OR symbol != 'BTCUSDT'")
        assert sorted((r["symbol"], r["t0"], list(r["feature_values"])) for r in outside) == sorted(
            (r["symbol"], r["t0"], r["feature_values"]) for r in untouched
        )
        # calling again adds no row under any signal_id
        dupes = backend.query(
            "SELECT signal_id, count() AS n FROM signals FINAL GROUP BY signal_id HAVING n > 1"
        )
        assert dupes.rows == []

    check(version_bump=1)
    events = recompute_events(backend)
    assert len(events) == 1
    event = events[0]
    assert (event["event_id"], event["symbol"], event["ts"]) == (result["event_id"], SYMBOL, NOW_MS)
    payload = json.loads(event["payload"])
    assert (payload["start_ms"], payload["end_ms"], payload["bars"], payload["updated"]) == (
        start,
        end,
        BARS,
        BARS // 2,
    )

    again = await api.post(PATH, json={"symbol": SYMBOL, "start_ms": start, "end_ms": end})
    assert again.status_code == 200, again.text
    assert (again.json()["updated"], again.json()["inserted"]) == (BARS, 0)
    assert again.json()["event_id"] == result["event_id"]  # the same recompute: the same event
    check(version_bump=2)
    events = recompute_events(backend)
    assert len(events) == 1 and json.loads(events[0]["payload"])["updated"] == BARS


async def test_named_files_and_config_rev(
    api: httpx.AsyncClient, backend: ClickHouseBackend, core_events: list[FeatureEvent]
) -> None:
    """Only the named file, another config rev: other signal ids, the same values."""
    start, end, inside = window(core_events)
    cfg = FeatureConfig(config_rev="rev-x")
    _, events = run_batches(bar_replay_ticks(load_bars()), cfg, [4096] * 50)
    expected = [e for e in events if start <= e["t0"] < end]
    assert [e["t0"] for e in expected] == [e["t0"] for e in inside]
    body = {"symbol": SYMBOL, "start_ms": start, "end_ms": end, "files": [BTC_MONTH], "config_rev": "rev-x"}
    reply = await api.post(PATH, json=body)
    assert reply.status_code == 200, reply.text
    assert reply.json()["files"] == [BTC_MONTH] and reply.json()["inserted"] == BARS
    rows = signals(backend)
    assert [r["signal_id"] for r in rows] == [e["signal_id"] for e in expected]
    assert {r["config_rev"] for r in rows} == {"rev-x"}
    for row, ev in zip(rows, expected, strict=True):
        assert_features(row, ev)
    assert len(recompute_events(backend)) == 1


@pytest.mark.parametrize(
    ("change", "loc"),
    [
        ({"end_ms": 1_641_000_000_000}, ["body", "end_ms"]),  # == start_ms
        ({"end_ms": 1_640_000_000_000}, ["body", "end_ms"]),  # before start_ms
        ({"start_ms": "yesterday"}, ["body", "start_ms"]),
        ({"start_ms": -5}, ["body", "start_ms"]),
        ({"symbol": "btc-usdt"}, ["body", "symbol"]),
        ({"symbol": "DOGEUSDT"}, ["body", "symbol"]),  # no shipped recording
        ({"files": []}, ["body", "files"]),
        ({"files": [BTC_MONTH, "data/nautilus/nope.csv"]}, ["body", "files", 1]),
        ({"files": ["/etc/hostname"]}, ["body", "files", 0]),  # outside the allowed folders
        ({"files": ["data/README.md"]}, ["body", "files", 0]),  # no loader for it
        ({"files": ["data/freqtrade/XRP_USDT_USDT-5m-futures.feather"]}, ["body", "files"]),  # no BTC
        ({"config_rev": ""}, ["body", "config_rev"]),
        ({"extra": 1}, ["body", "extra"]),
    ],
)
async def test_an_invalid_request_is_422_naming_the_field(
    api: httpx.AsyncClient, backend: ClickHouseBackend, change: dict[str, Any], loc: list[Any]
) -> None:
    body = {"symbol": SYMBOL, "start_ms": 1_641_000_000_000, "end_ms": 1_641_003_600_000} | change
    reply = await api.post(PATH, json=body)
    assert reply.status_code == 422, reply.text
    assert loc in [e["loc"] for e in reply.json()["detail"]], reply.json()
    assert signals(backend, "1") == [] and recompute_events(backend) == []


def test_the_shipped_data_of_a_symbol() -> None:
    from agents.features.recompute import shipped_files

    btc = {p.relative_to(SHIPPED_DATA).as_posix() for p in shipped_files(SYMBOL)}
    assert "nautilus/btc-perp-20211231-20220201_1m.csv" in btc
    assert "nautilus/btcusdt-depth-update.csv" not in btc  # read with its snapshot
    assert not any(name.startswith("freqtrade/") for name in btc)
    xrp = {p.name for p in shipped_files("XRPUSDT")}
    assert xrp == {"XRP_USDT_USDT-5m-futures.feather", "XRP_USDT_USDT-8h-mark.feather"}
    assert shipped_files("NOPEUSDT") == []


async def test_a_later_recompute_replaces_an_earlier_one(
    api: httpx.AsyncClient, backend: ClickHouseBackend, core_events: list[FeatureEvent], tmp_path: Path
) -> None:
    """Features-only rows keep version 0 (below S3's), so a second recompute ties with the first:
    the last inserted row must win on both engines. The first recompute reads a recording that
    starts 30 bars before the window (rv and rho not warmed up, other EMAs); the second the month."""
    start, end, inside = window(core_events)
    lines = (SHIPPED_DATA.parent / BTC_MONTH).read_text().splitlines(keepends=True)
    short = tmp_path / "btc-perp-short_1m.csv"  # under the service's data_dir: an allowed folder
    short.write_text(lines[0] + "".join(lines[1 + FIRST - 30 :]))

    first = await api.post(
        PATH, json={"symbol": SYMBOL, "start_ms": start, "end_ms": end, "files": [str(short)]}
    )
    assert first.status_code == 200, first.text
    rows = signals(backend)
    assert [r["signal_id"] for r in rows] == [ev["signal_id"] for ev in inside]
    rv = FEATURES.index("rv")
    assert all(math.isnan(r["feature_values"][rv]) for r in rows[:30])  # fewer than 60 returns yet

    second = await api.post(PATH, json={"symbol": SYMBOL, "start_ms": start, "end_ms": end})
    assert second.status_code == 200, second.text
    assert second.json()["event_id"] != first.json()["event_id"]
    rows = signals(backend)
    assert [r["version"] for r in rows] == [0] * BARS
    for row, ev in zip(rows, inside, strict=True):
        assert_features(row, ev)
    assert len(recompute_events(backend)) == 2  # two different recomputes
