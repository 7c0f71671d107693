"""The market regime during a backtest, in event time: S2's daily job run at each UTC midnight.

The daily job (``agents.features.regime_job``) ranks the last complete day's realised volatility
among the days before; here it runs on the closes the run has seen so far (the regime symbol's
feature events, so no lookahead) the first time a decision falls in a new UTC day, and writes
``prod:{regime}:market:state`` of the run's keyspace exactly as the job does. Until enough days
exist there is no record and S3 skips with REGIME, as it would in production.
"""

from __future__ import annotations

import json

import numpy as np

from agents.features.config import RegimeConfig
from agents.features.regime import DAY_MS
from agents.features.regime_job import regime_record
from sinks.redis import Keyspace, RedisClient


class RegimeClock:
    def __init__(
        self, client: RedisClient, keyspace: Keyspace, symbol: str | None, cfg: RegimeConfig
    ) -> None:
        self._client = client
        self._key = keyspace.regime_market_state()
        self.symbol = symbol
        self.cfg = cfg
        self._t0: list[int] = []
        self._close: list[float] = []
        self._as_of = -1
        self.pinned: str | None = None
        self.published: list[dict[str, object]] = []  # every record written, in order

    async def pin(self, regime: str) -> None:
        """A fixed label with no expiry (a bare name: S3 reads it as never stale); the daily job
        then stays off, or its first record would replace the pin."""
        self.pinned = regime
        await self._client.set(self._key, regime)

    def observe(self, symbol: str, t0: int, close: float | int | None) -> None:
        if symbol == self.symbol and close is not None and close > 0:
            self._t0.append(t0)
            self._close.append(float(close))

    async def before_decision(self, t0: int) -> None:
        """Publish the record of the day the decision at ``t0`` falls in, once per day."""
        as_of = (t0 - 1) // DAY_MS * DAY_MS  # a bar closing at midnight belongs to the day before
        if self.pinned is not None or as_of <= self._as_of:
            return
        self._as_of = as_of
        try:
            record = regime_record(np.array(self._t0), np.array(self._close), as_of, self.cfg)
        except ValueError:
            return  # fewer prior days than min_history: no label yet (the job would write none)
        await self._client.set(self._key, json.dumps(record, sort_keys=True))
        self.published.append(record)
