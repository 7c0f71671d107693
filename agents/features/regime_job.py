"""S2's daily regime job (spec §A S2.2): daily RV -> FROZEN / NORMAL / EXTREME in
``prod:{regime}:market:state``, and ``metrics.events`` ``s2.regime_latency``.

Pure part, :func:`regime_record`: from bar closes (stamped with their close time) and the job's
``as_of`` (a day boundary), the record of :func:`agents.features.regime.classify` over the COMPLETE
UTC days before ``as_of`` only: bars after it are ignored (no lookahead), so the job gives the same
record whenever it runs. The record is JSON with ``regime`` (the label), ``rv``, ``percentile``,
``rev`` (a hash of the inputs) and ``as_of`` / ``expires_at`` (the expiry, event time: S3 reads
it against each decision's ``t0``, so a replay ages the label as the market did; no Redis TTL,
which would count wall-clock time).

Shell, :func:`run_regime_job`: write the record, then measure the latency (clock now minus
``as_of``: how long after the day closed the label became readable) and send it as a
:class:`topics.ops.MetricEvent`. :func:`closes_from_signals` reads the closes back from the
``signals`` rows S3 writes (the features of every bar), so the job needs no other store.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np

from agents.features.config import RegimeConfig
from agents.features.regime import DAY_MS, classify, daily_realised_vol
from chimera.model import Clock
from sinks.clickhouse.backend import ClickHouseBackend, quote_string
from sinks.redis import Keyspace, RedisClient
from topics.ops import MetricEvent

METRIC = "s2.regime_latency"


def regime_record(ts: np.ndarray, close: np.ndarray, as_of_ms: int, cfg: RegimeConfig) -> dict[str, Any]:
    """The regime as of ``as_of_ms`` (a UTC midnight) from the days that ended by then."""
    if as_of_ms % DAY_MS:
        raise ValueError(f"as_of {as_of_ms} is not a UTC day boundary")
    ts = np.asarray(ts, dtype=np.int64)
    close = np.asarray(close, dtype=np.float64)
    order = np.argsort(ts, kind="stable")
    ts, close = ts[order], close[order]
    known = ts <= as_of_ms
    # a bar closing exactly at midnight is the last bar of the day before: shift by 1 ms
    days, rv = daily_realised_vol(ts[known] - 1, close[known])
    complete = days + DAY_MS <= as_of_ms
    return classify([float(x) for x in rv[complete]], as_of_ms, cfg)


def latency_metric(record: dict[str, Any], now_ms: int) -> MetricEvent:
    return MetricEvent(
        service="s2",
        name=METRIC,
        value=float(now_ms - int(record["as_of"])),
        kind="timer",
        tags={"regime": str(record["regime"]), "rev": str(record["rev"])},
        ts=now_ms,
    )


async def run_regime_job(
    client: RedisClient,
    keyspace: Keyspace,
    ts: np.ndarray,
    close: np.ndarray,
    as_of_ms: int,
    cfg: RegimeConfig,
    clock: Clock,
    send_metric: Callable[[MetricEvent], None],
) -> tuple[dict[str, Any], MetricEvent]:
    record = regime_record(ts, close, as_of_ms, cfg)
    await client.set(keyspace.regime_market_state(), json.dumps(record, sort_keys=True))
    metric = latency_metric(record, clock.now_ms())
    send_metric(metric)
    return record, metric


def closes_from_signals(
    backend: ClickHouseBackend, symbol: str, since_ms: int, until_ms: int
) -> tuple[np.ndarray, np.ndarray]:
    """``(t0, close)`` of the symbol's bars closing in ``[since_ms, until_ms]`` from ``signals``."""
    sql = (
        "SELECT t0, feature_values[indexOf(feature_names, 'close')] AS c FROM signals FINAL "
        f"WHERE symbol = {quote_string(symbol)} AND t0 >= {int(since_ms)} AND t0 <= {int(until_ms)} "
        "ORDER BY t0"
    )
    rows = [(int(t), float(c)) for t, c in backend.query(sql).rows if c == c]  # NaN: no close that bar
    return np.array([t for t, _ in rows], dtype=np.int64), np.array([c for _, c in rows], dtype=np.float64)


def kafka_metric_sender(
    bootstrap: str, prefix: str = "", replication: int = 1
) -> Callable[[MetricEvent], None]:
    """Send metric events to ``<prefix>metrics.events`` (keyed by service), each one acknowledged."""
    from topics.admin import ensure_topics
    from topics.codec import encode, key_for
    from topics.producer import make_producer

    ensure_topics(bootstrap, prefix, 1, replication, names=["metrics.events"])
    producer = make_producer(bootstrap, acks="all")

    def send(metric: MetricEvent) -> None:
        errors: list[str] = []
        topic = prefix + "metrics.events"
        producer.produce(
            topic,
            encode(metric, "metrics.events"),
            key_for("metrics.events", metric),
            on_delivery=lambda err, _msg: errors.append(str(err)) if err else None,
        )
        if producer.flush(15) or errors:
            raise RuntimeError(f"{topic}: metric not delivered ({errors or 'timeout'})")

    return send
