"""S2's daily regime job inside the worker that runs the features service (spec §A S2.2).

When: at every 00:00 UTC (wall clock: a live worker's event time), and once at start when
``prod:{regime}:market:state`` is missing, expired, or older than the last midnight (a worker that
was down at midnight catches up). A bare label in the key is a pin (``RegimeClock.pin``, read by S3
as never stale): the job leaves it alone, at start and at midnight.

What: :func:`agents.features.regime_job.run_regime_job` on the regime symbol's closes read back
from ``signals`` (``closes_from_signals``), over the lookback before the midnight; the record goes
to Redis, ``s2.regime_latency`` to ``metrics.events`` through the worker's producer. The regime
symbol is the active bundle's first instrument (as the engine takes it), else ``DEFAULT_SYMBOL``.

Every features worker runs it; the record is a pure function of the midnight and the closes, so
two workers write the same record (same ``rev``). Too few prior days is no label (logged, retried
at the next midnight); Redis or ClickHouse failing is retried after ``RETRY_S``.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable
from datetime import UTC
from typing import Any

from agents.app import app
from agents.features.active import active_features
from agents.features.config import RegimeConfig
from agents.features.regime import DAY_MS
from agents.features.regime_job import closes_from_signals, run_regime_job
from agents.stores import WorkerStores
from chimera.model import Clock, LiveClock
from sinks.redis import Keyspace
from topics.codec import encode
from topics.ops import MetricEvent

log = logging.getLogger(__name__)
DEFAULT_SYMBOL = "BTCUSDT"
RETRY_S = 60.0


def state_is_due(raw: bytes | str | None, as_of_ms: int, now_ms: int) -> bool:
    """Whether the stored state asks for a run for ``as_of_ms``: missing, unreadable as a record
    but not a pin, expired at ``now_ms``, or from before ``as_of_ms``."""
    if raw is None:
        return True
    text = raw.decode() if isinstance(raw, bytes) else raw
    try:
        record = json.loads(text)
    except ValueError:
        return False  # a bare label: pinned
    if not isinstance(record, dict):
        return False  # a JSON string / number is a label too
    try:
        return int(record["expires_at"]) <= now_ms or int(record["as_of"]) < as_of_ms
    except (KeyError, TypeError, ValueError):
        return True  # a broken record: replace it


class RegimeScheduler:
    """The job's clients (opened on first use) and its two entry points; ``runs`` counts records."""

    def __init__(self, cfg: RegimeConfig | None = None, clock: Clock | None = None) -> None:
        self.cfg = cfg or RegimeConfig()
        self.clock: Clock = clock or LiveClock()
        self.runs = 0
        self._stores = WorkerStores(app.settings, f"{app.settings.worker_id}-s2-regime")
        self._keyspace = Keyspace.from_settings(app.settings)
        self._metrics = app.output_topic("metrics.events")

    def symbol(self) -> str:
        bundle = active_features.bundle
        return next(iter(bundle.strategy.instruments)) if bundle is not None else DEFAULT_SYMBOL

    async def at_start(self) -> None:
        """Run now if the state is due; retried every ``RETRY_S`` while Redis or ClickHouse fail."""
        while True:
            now = self.clock.now_ms()
            try:
                await self.run_if_due(now // DAY_MS * DAY_MS, now, at_start=True)
                return
            except Exception as exc:  # never crash the worker over the label: S3 skips without one
                log.warning("regime job at start failed (%s); again in %.0f s", exc, RETRY_S)
                await asyncio.sleep(RETRY_S)

    async def at_midnight(self) -> None:
        now = self.clock.now_ms()
        try:
            await self.run_if_due(now // DAY_MS * DAY_MS, now, at_start=False)
        except Exception as exc:
            log.warning("regime job at midnight failed (%s); retried as at start", exc)
            await self.at_start()

    async def close(self) -> None:
        await self._stores.close()

    async def run_if_due(self, as_of: int, now: int, at_start: bool) -> dict[str, Any] | None:
        """At start: run when the state is due; at midnight: run unless the key holds a pin."""
        raw = await self._stores.redis().get(self._keyspace.regime_market_state())
        if raw is not None and not _is_record(raw):
            log.info("regime is pinned (%r): the daily job leaves it", raw)
            return None
        if at_start and not state_is_due(raw, as_of, now):
            log.info("regime state is current: the job waits for the next midnight")
            return None
        return await self.run(as_of)

    async def run(self, as_of: int) -> dict[str, Any] | None:
        symbol = self.symbol()
        since = as_of - (self.cfg.lookback_days + 2) * DAY_MS
        backend = await self._stores.backend()
        ts, close = await asyncio.to_thread(closes_from_signals, backend, symbol, since, as_of)
        sent: list[MetricEvent] = []
        try:
            record, metric = await run_regime_job(
                self._stores.redis(), self._keyspace, ts, close, as_of, self.cfg, self.clock, sent.append
            )
        except ValueError as exc:  # too few days of closes: no label (S3 skips with REGIME)
            log.warning("no regime label for %s as of %d: %s", symbol, as_of, exc)
            return None
        await self._metrics.send(key=metric.service.encode(), value=encode(metric, "metrics.events"))
        self.runs += 1
        log.info("regime %s as of %d from %s (rev %s)", record["regime"], as_of, symbol, record["rev"])
        return record


def _is_record(raw: bytes | str) -> bool:
    try:
        return isinstance(json.loads(raw), dict)
    except ValueError:
        return False


regime_scheduler = RegimeScheduler()


@app.task
async def regime_at_start() -> None:  # after table recovery: the producer is up for the metric
    await regime_scheduler.at_start()


@app.crontab("0 0 * * *", timezone=UTC)
async def regime_at_midnight() -> None:
    await regime_scheduler.at_midnight()


@app.on_before_shutdown.connect
def _close_regime_clients(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> Awaitable[None]:
    return regime_scheduler.close()
