"""Shell side of L2: run a ``predict(features) -> p_up`` callable under a hard timeout, fall back
to the configured ``p`` on timeout or error, and count both (``stats`` is what tests and metrics read).

A sync callable runs on a small thread pool, so a slow model cannot block the event loop; an async
callable is awaited directly. A callable marked ``inline = True`` (the built-in logistic model: a
dot product, microseconds) is called in place, with no timer: a wall-clock deadline on it would make
decisions depend on how loaded the machine is (measured: on 2 busy cores a 20 ms deadline on the
thread hop was missed now and then, and two replays of the same month then decided differently).

Python cannot kill a thread: a timed-out call keeps its worker until it returns. While every worker
is held by such a call, new calls fall back at once (``busy``) instead of queueing behind it and
timing out one after another.
"""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import inspect
import math
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import cast

from agents.strategy.context import ModelOutcome
from agents.strategy.model import ModelParams, entry_p
from chimera.model import Side

Features = Mapping[str, float | int | None]
Predict = Callable[[Features], float] | Callable[[Features], Awaitable[float]]


@dataclass(slots=True)
class ModelStats:
    calls: int = 0
    ok: int = 0
    timeouts: int = 0
    errors: int = 0
    busy: int = 0

    @property
    def fallbacks(self) -> int:
        return self.timeouts + self.errors + self.busy


class ModelRunner:
    def __init__(self, predict: Predict, params: ModelParams, *, workers: int = 2) -> None:
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self._predict = predict
        self._is_async = inspect.iscoroutinefunction(predict)
        self._inline = bool(getattr(predict, "inline", False)) and not self._is_async
        self._timeout_s = params.timeout_ms / 1000.0
        self._fallback = params.fallback_p
        self._workers = workers
        self._pool = cf.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="s3-model")
        self._stuck: set[cf.Future[float]] = set()  # timed out, still holding a worker
        self.stats = ModelStats()

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def _call(self, features: Features) -> float:
        if self._is_async:
            coro = self._predict(features)
            assert inspect.isawaitable(coro)
            return float(await asyncio.wait_for(coro, self._timeout_s))
        fut: cf.Future[float] = self._pool.submit(cast(Callable[[Features], float], self._predict), features)
        try:
            # shield: on timeout only our wait is cancelled; the thread's future is tracked as stuck
            out = await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(fut)), self._timeout_s)
        except TimeoutError:
            self._stuck.add(fut)
            raise
        return float(out)

    async def run(self, features: Features, side: Side) -> ModelOutcome:
        """The entry probability for ``side``: the model's, or the fallback (counted)."""
        self.stats.calls += 1
        if self._inline:
            return self._run_inline(features, side)
        self._stuck = {f for f in self._stuck if not f.done()}
        if not self._is_async and len(self._stuck) >= self._workers:
            self.stats.busy += 1
            return ModelOutcome(self._fallback, "busy")
        try:
            p_up = await self._call(features)
        except TimeoutError:
            self.stats.timeouts += 1
            return ModelOutcome(self._fallback, "timeout")
        except Exception:  # a failing model must not stop trading decisions; it falls back, counted
            self.stats.errors += 1
            return ModelOutcome(self._fallback, "error")
        return self._outcome(p_up, side)

    def _run_inline(self, features: Features, side: Side) -> ModelOutcome:
        try:
            p_up = float(cast(Callable[[Features], float], self._predict)(features))
        except Exception:  # e.g. a null feature: the fallback, counted, as for any model
            self.stats.errors += 1
            return ModelOutcome(self._fallback, "error")
        return self._outcome(p_up, side)

    def _outcome(self, p_up: float, side: Side) -> ModelOutcome:
        if not (math.isfinite(p_up) and 0.0 <= p_up <= 1.0):
            self.stats.errors += 1
            return ModelOutcome(self._fallback, "error")
        self.stats.ok += 1
        return ModelOutcome(entry_p(p_up, side), "model")
