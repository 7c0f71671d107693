"""S3's shell without Faust: what one decision needs besides the core, shared by the Faust agent
(``agents/strategy/agent.py``) and ``POST /decide`` (``agents/strategy/http.py``).

Per decision: the active bundle is read ONCE (``ActiveConfig.current``, read-copy-update), the
Redis inputs in one round trip, then the core's requests are answered (the model under its timeout,
the entry gate) by ``shell.run_decision``. The gate's lease clock is event time: the newest ``t0``
seen (a replay ages reservations as the market did, not as the wall clock does).

A model runner belongs to one bundle (its timeout and fallback are the bundle's): runners of
bundles no longer active are closed at the start of a later decision, once no decision that uses
them is in flight (``POST /decide`` decides several symbols at once; the agent one at a time).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import replace

from agents.config.active import ActiveBundle, ActiveConfig
from agents.features.core import FeatureEvent
from agents.strategy.core import Outcome
from agents.strategy.entry import SymbolState
from agents.strategy.inputs import read_ctx
from agents.strategy.model import LogisticModel, ModelParams
from agents.strategy.model_runner import ModelRunner, ModelStats, Predict
from agents.strategy.shell import run_decision
from sinks.redis import EntryGate, Keyspace, RedisClient
from topics.trading import FeatureEvent as FeatureMessage

PredictFor = Callable[[ModelParams], Predict]


def event_of(msg: FeatureMessage) -> FeatureEvent:
    """The core's input: the ``feat.events`` contract's fields as the TypedDict S2's core emits."""
    return {
        "signal_id": msg.signal_id,
        "t0": msg.t0,
        "symbol": msg.symbol,
        "features": dict(msg.features),
        "dqc": list(msg.dqc),
        "config_rev": msg.config_rev,
    }


class EventClock:
    """The newest event time seen; never goes back (a late event does not rewind leases)."""

    def __init__(self, start_ms: int = 0) -> None:
        self._now = start_ms

    def now_ms(self) -> int:
        return self._now

    def observe(self, ts_ms: int) -> None:
        self._now = max(self._now, ts_ms)


def _sum(a: ModelStats, b: ModelStats) -> ModelStats:
    return ModelStats(*(getattr(a, f) + getattr(b, f) for f in ("calls", "ok", "timeouts", "errors", "busy")))


class Strategy:
    def __init__(
        self,
        holder: ActiveConfig,
        redis: RedisClient,
        keyspace: Keyspace,
        gate: EntryGate,
        clock: EventClock,
        predict_for: PredictFor = LogisticModel,
    ) -> None:
        self.holder = holder
        self.redis = redis
        self.keyspace = keyspace
        self.gate = gate
        self.clock = clock
        self._predict_for = predict_for  # the bundle's model params -> its predict callable
        self._runners: dict[str, ModelRunner] = {}
        self._inflight: Counter[str] = Counter()  # rev -> decisions using its runner right now
        self.closed_stats = ModelStats()  # counts of runners already closed

    def _runner(self, snap: ActiveBundle) -> ModelRunner:
        for rev in [r for r in self._runners if r != snap.rev and not self._inflight[r]]:
            self._retire(rev)
        runner = self._runners.get(snap.rev)
        if runner is None:
            params = snap.strategy.model
            runner = self._runners[snap.rev] = ModelRunner(self._predict_for(params), params)
        return runner

    def _retire(self, rev: str) -> None:
        runner = self._runners.pop(rev)
        self.closed_stats = _sum(self.closed_stats, runner.stats)
        runner.close()

    def model_stats(self) -> ModelStats:
        """Calls, answers and fallbacks over every bundle's runner, closed ones included."""
        out = self.closed_stats
        for r in self._runners.values():
            out = _sum(out, r.stats)
        return out

    async def decide(self, state: SymbolState, ev: FeatureEvent) -> tuple[ActiveBundle, Outcome]:
        snap = self.holder.current()  # the one read of the config for this decision
        runner = self._runner(snap)
        self.clock.observe(ev["t0"])
        self._inflight[snap.rev] += 1
        try:
            ctx = await read_ctx(self.redis, self.keyspace, snap.strategy, ev["symbol"])
            out = await run_decision(state, ev, replace(ctx, config_rev=snap.rev), runner, self.gate)
        finally:
            self._inflight[snap.rev] -= 1
        return snap, out

    def close(self) -> None:
        for rev in list(self._runners):
            self._retire(rev)
