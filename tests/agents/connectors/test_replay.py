"""``chimera replay`` / ``chimera record`` against the real Apache Kafka broker, and the pure pacing."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from agents.connectors.cli import record, replay
from agents.connectors.marketdata import MarketEvent, MicroBatcher
from agents.connectors.recordings import load_file
from agents.connectors.recordings.recorded import batch_events
from agents.connectors.replay import BulkProducer, replay_records, run_replay
from tests.agents.connectors.market_fixtures import BTC_BARS, BTC_MONTH, DATA, batches_of, broken_copy, drain
from topics.market import FundingEvent

XRP = DATA / "freqtrade"
# large batches keep the broker round trip of the month to a few seconds
WINDOW_MS, MAX_TICKS = 3_600_000, 240


def _replay(files: list[Path], bootstrap: str, prefix: str) -> dict[str, Any]:
    args = [*map(str, files), "--bootstrap", bootstrap, "--prefix", prefix, "--json", "--no-progress"]
    result = CliRunner().invoke(replay, [*args, "--window-ms", str(WINDOW_MS), "--max-ticks", str(MAX_TICKS)])
    assert result.exit_code == 0, result.output
    summary: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return {**summary, "stderr": result.stderr}


@pytest.mark.kafka
def test_btc_month_arrives_tick_for_tick_in_event_time_order(kafka_bootstrap: str, unique_name: str) -> None:
    prefix = f"{unique_name}."
    summary = _replay([BTC_MONTH], kafka_bootstrap, prefix)
    assert summary["ticks"] == 4 * BTC_BARS and summary["dlq"] == 0

    messages = drain(kafka_bootstrap, prefix + "mkt.perp")
    batches = batches_of(messages)
    assert len(batches) == summary["batches"]
    assert sum(len(b) for b in batches) == 180_124
    assert {key for key, _ in messages} == {"BTCUSDT"}
    batches.sort(key=lambda b: b.seq)
    assert [b.seq for b in batches] == list(range(len(batches)))
    stamps = [ts for b in batches for ts in b.ts]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
    # the ticks on the wire are the ticks of the file, price for price (the raw file read by pandas)
    raw = pd.read_csv(BTC_MONTH)
    o, h, low, c = (raw[col].to_numpy() for col in ("open", "high", "low", "close"))
    expected = np.asarray(
        np.where(((h - o) < (o - low))[:, None], np.c_[o, h, low, c], np.c_[o, low, h, c])
    ).ravel()
    assert np.array_equal(np.concatenate([b.column("price") for b in batches]), expected)


@pytest.mark.kafka
def test_malformed_record_goes_to_the_dlq_and_the_replay_goes_on(
    kafka_bootstrap: str, unique_name: str, tmp_path: Path
) -> None:
    broken = broken_copy(
        BTC_MONTH, tmp_path / "btc-perp-broken_1m.csv", lines=2_001, edits={777: "2022-01-01 12:00:00,1,2"}
    )
    prefix = f"{unique_name}."
    summary = _replay([broken], kafka_bootstrap, prefix)
    assert summary["dlq"] == 1 and summary["ticks"] == 4 * 1_999
    assert f"malformed: {broken}:777: expected 6 fields, got 3" in summary["stderr"]

    ticks = sum(len(b) for b in batches_of(drain(kafka_bootstrap, prefix + "mkt.perp")))
    assert ticks == 4 * 1_999
    [(key, value)] = drain(kafka_bootstrap, prefix + "dlq.mkt.perp")
    letter = json.loads(value)
    assert (letter["file"], letter["line"], letter["source_topic"]) == (str(broken), 777, "mkt.perp")
    assert "expected 6 fields, got 3" in letter["reason"] and letter["raw"] == "2022-01-01 12:00:00,1,2"
    assert key == str(broken)


@pytest.mark.kafka
def test_record_then_replay_gives_back_the_same_ticks_and_funding(
    kafka_bootstrap: str, unique_name: str, tmp_path: Path
) -> None:
    files = [
        XRP / "XRP_USDT_USDT-5m-futures.feather",
        XRP / "XRP_USDT_USDT-8h-mark.feather",
        XRP / "XRP_USDT_USDT-8h-funding_rate.feather",
        DATA / "nautilus" / "btcusdt-quotes.parquet",
        DATA / "nautilus" / "binance-futures_book_snapshot_25_BTCUSDT.csv",
    ]
    first, second = f"{unique_name}.a.", f"{unique_name}.b."
    summary = _replay(files, kafka_bootstrap, first)
    assert summary["ticks"] == 7_996 + 364 + 451 + 10 and summary["funding"] == 91

    out = tmp_path / "capture.jsonl.gz"
    args = ["--topics", "mkt.spot,mkt.perp,mkt.funding", "--out", str(out), "--prefix", first]
    result = CliRunner().invoke(record, [*args, "--bootstrap", kafka_bootstrap])
    assert result.exit_code == 0, result.output
    assert f"recorded {summary['batches'] + summary['funding']} messages" in result.output

    again = _replay([out], kafka_bootstrap, second)
    assert {k: again[k] for k in ("ticks", "funding", "dlq")} == {
        k: summary[k] for k in ("ticks", "funding", "dlq")
    }
    for topic in ("mkt.spot", "mkt.perp"):
        before = [e for b in batches_of(drain(kafka_bootstrap, first + topic)) for e in batch_events(b)]
        after = [e for b in batches_of(drain(kafka_bootstrap, second + topic)) for e in batch_events(b)]
        assert sorted(after, key=_order) == sorted(before, key=_order) and before
    funding = [FundingEvent.decode(v) for _, v in drain(kafka_bootstrap, second + "mkt.funding")]
    assert sorted(f.ts for f in funding) == [
        f.ts for f in load_file(XRP / "XRP_USDT_USDT-8h-funding_rate.feather")
    ]


def _order(e: MarketEvent) -> tuple[str, int, str]:
    return (e.symbol, e.ts, e.kind)


@pytest.mark.kafka
def test_run_replay_creates_its_topics_and_waits_for_acks(kafka_bootstrap: str, unique_name: str) -> None:
    stats = run_replay(
        [DATA / "nautilus" / "btcusdt-trades.parquet", DATA / "nautilus" / "btcusdt-instrument.txt"],
        kafka_bootstrap,
        f"{unique_name}.",
        MicroBatcher(1_000, 64),
        partitions=2,
        progress=False,
    )
    assert stats.ticks == 2_001 and stats.dlq == 0
    assert sum(len(b) for b in batches_of(drain(kafka_bootstrap, f"{unique_name}.mkt.spot"))) == 2_001
    assert drain(kafka_bootstrap, f"{unique_name}.dlq.mkt.spot") == []


def test_speed_paces_publishing_in_event_time() -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    sent: list[tuple[str, str]] = []
    records = list(load_file(XRP / "XRP_USDT_USDT-8h-funding_rate.feather"))[:4]
    stats = replay_records(
        records,
        lambda t, k, v: sent.append((t, k)),
        MicroBatcher(1, 1),
        "bt.x.",
        3_600.0,
        lambda: now[0],
        sleep,
    )
    assert stats.funding == 4 and sent == [("bt.x.mkt.funding", "XRPUSDT")] * 4
    # 8 h of event time at 3600x is 8 s of wall time between settlements (give or take venue jitter)
    stamps = [r.ts for r in records]
    assert slept == pytest.approx([(b - a) / 1000 / 3_600 for a, b in itertools.pairwise(stamps)], abs=1e-9)
    assert slept == pytest.approx([8.0] * 3, abs=1e-4)


def test_replay_refuses_an_unknown_file_before_touching_the_broker(tmp_path: Path) -> None:
    odd = tmp_path / "prices.xlsx"
    odd.write_bytes(b"PK")
    result = CliRunner().invoke(replay, [str(odd), "--bootstrap", "127.0.0.1:1", "--no-progress"])
    assert result.exit_code == 2
    assert f"{odd}: unknown recording format" in result.output


@pytest.mark.kafka
def test_an_undelivered_message_fails_the_flush(kafka_bootstrap: str, unique_name: str) -> None:
    producer = BulkProducer(kafka_bootstrap, {"message.timeout.ms": 1_000, "allow.auto.create.topics": False})
    producer.send(f"{unique_name}.never_created", "BTCUSDT", b"{}")
    with pytest.raises(RuntimeError, match="1 errors"):
        producer.flush(10)
