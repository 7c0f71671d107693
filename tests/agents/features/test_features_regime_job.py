"""The daily regime job on the real BTC month: the record uses only the days complete by ``as_of`` (the
same whatever comes later), agrees with daily RV worked out independently with pandas, lands in real
Redis where S3's parser reads it, and its latency goes to metrics.events on the real Kafka."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from features_kit import load_bars

from agents.features.config import RegimeConfig
from agents.features.regime import DAY_MS
from agents.features.regime_job import METRIC, kafka_metric_sender, regime_record, run_regime_job
from agents.strategy.inputs import parse_regime
from chimera.model import TestClock
from sinks.redis import Keyspace, make_client
from tests.agents.worker_kit import Reader
from topics.ops import MetricEvent

CFG = RegimeConfig(lookback_days=30, min_history=15)
JAN_20 = 1_642_636_800_000  # 2022-01-20 00:00 UTC
JAN_31 = 1_643_587_200_000


@pytest.fixture(scope="module")
def closes() -> tuple[np.ndarray, np.ndarray]:
    bars = load_bars()
    return bars["ts"].to_numpy(np.int64) + 60_000, bars["close"].to_numpy(np.float64)  # close time


def pandas_daily_rv(ts: np.ndarray, close: np.ndarray, as_of: int) -> list[float]:
    """Independently: log returns by the UTC day of their ending bar, complete days before as_of."""
    s = pd.Series(close, index=pd.to_datetime(ts - 1, unit="ms", utc=True))
    r2 = np.log(s / s.shift(1)).dropna() ** 2
    daily = np.sqrt(r2.groupby(r2.index.floor("D")).sum()) * math.sqrt(365)
    cutoff = pd.Timestamp(as_of, unit="ms", tz="UTC")
    return [float(x) for x in daily[daily.index + pd.Timedelta(days=1) <= cutoff]]


def test_the_record_uses_only_complete_days_before_as_of(closes: tuple[np.ndarray, np.ndarray]) -> None:
    ts, close = closes
    rec = regime_record(ts, close, JAN_20, CFG)
    early = ts <= JAN_20
    assert regime_record(ts[early], close[early], JAN_20, CFG) == rec  # later bars change nothing
    expected = pandas_daily_rv(ts, close, JAN_20)
    assert len(expected) == 20  # Dec 31 .. Jan 19: complete by Jan 20 00:00
    assert rec["rv"] == pytest.approx(expected[-1], rel=1e-12)
    below = sum(x < expected[-1] for x in expected[:-1])
    assert rec["percentile"] == pytest.approx(100 * below / (len(expected) - 1))
    assert (rec["as_of"], rec["expires_at"]) == (JAN_20, JAN_20 + CFG.ttl_ms)
    labels = {regime_record(ts, close, JAN_20 + d * DAY_MS, CFG)["regime"] for d in range(12)}
    assert labels <= {"FROZEN", "NORMAL", "EXTREME"} and len(labels) >= 2  # the month moves between labels
    with pytest.raises(ValueError, match="day boundary"):
        regime_record(ts, close, JAN_20 + 1, CFG)
    with pytest.raises(ValueError, match="min_history"):
        regime_record(ts, close, JAN_20 - 6 * DAY_MS, CFG)


@pytest.mark.redis
@pytest.mark.kafka
async def test_the_job_writes_redis_for_s3_and_sends_its_latency(
    closes: tuple[np.ndarray, np.ndarray], redis_url: str, kafka_bootstrap: str, unique_name: str
) -> None:
    ts, close = closes
    client = make_client(url=redis_url)
    ks = Keyspace(f"{unique_name}.")
    clock = TestClock(JAN_31 + 90_000)  # the job ran 90 s after midnight
    try:
        rec, metric = await run_regime_job(
            client, ks, ts, close, JAN_31, CFG, clock, kafka_metric_sender(kafka_bootstrap, f"{unique_name}.")
        )
        raw = await client.get(ks.regime_market_state())
        assert json.loads(raw) == rec
        assert parse_regime(raw) == (rec["regime"], JAN_31 + CFG.ttl_ms)  # what S3 reads
    finally:
        await client.delete(ks.regime_market_state())
        await client.aclose()
    assert (metric.name, metric.value, metric.kind, metric.tags["regime"]) == (
        METRIC,
        90_000.0,
        "timer",
        rec["regime"],
    )
    reader = Reader(kafka_bootstrap, f"{unique_name}.metrics.events")
    reader.read_until(lambda vs: len(vs) >= 1, 30.0)
    assert [MetricEvent.decode(v) for v in reader.values()] == [metric] and reader.records[0][0] == b"s2"
    reader.close()
