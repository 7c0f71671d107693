"""L2: the logistic model and its p -> size_mult ramp (pure), and the shell's runner: a real slow
callable past its timeout gives the fallback p, and the fallbacks are counted."""

from __future__ import annotations

import asyncio
import math
import threading
import time

import pytest

from agents.strategy.model import LogisticModel, ModelInputError, ModelParams, entry_p, size_mult_for
from agents.strategy.model_runner import ModelRunner
from chimera.model import Side

FEATS = {"ret_1": 0.002, "rv": 0.5, "spread_bp": 1.5}


def test_the_logistic_model_is_sigmoid_of_the_weighted_sum() -> None:
    params = ModelParams(weights={"ret_1": 100.0, "rv": -1.0}, intercept=0.1)
    z = 0.1 + 100.0 * 0.002 - 1.0 * 0.5
    assert LogisticModel(params).predict(FEATS) == pytest.approx(1 / (1 + math.exp(-z)), abs=1e-15)
    big = LogisticModel(ModelParams(weights={"ret_1": 1e6}))
    assert big.predict({"ret_1": 1.0}) == 1.0 and big.predict({"ret_1": -1.0}) == 0.0  # no overflow
    with pytest.raises(ModelInputError, match="rv"):
        LogisticModel(params).predict({"ret_1": 0.1, "rv": None})


def test_p_maps_to_size_on_the_documented_ramp() -> None:
    params = ModelParams()
    assert [size_mult_for(p, params) for p in (0.0, 0.3, 0.7, 1.0)] == [0.5, 0.5, 1.5, 1.5]
    assert size_mult_for(0.5, params) == pytest.approx(1.0) and size_mult_for(0.6, params) == pytest.approx(
        1.25
    )
    assert entry_p(0.8, Side.BUY) == 0.8 and entry_p(0.8, Side.SELL) == pytest.approx(0.2)


async def test_a_slow_model_times_out_to_the_fallback_and_is_counted() -> None:
    params = ModelParams(timeout_ms=20, fallback_p=0.45)
    release = threading.Event()

    def slow(features: object) -> float:
        release.wait(2.0)  # a real blocking call, far past the 20 ms limit
        return 0.9

    runner = ModelRunner(slow, params, workers=2)
    try:
        start = time.perf_counter()
        out = await runner.run(FEATS, Side.BUY)
        waited = time.perf_counter() - start
        assert (out.p, out.source) == (0.45, "timeout")
        assert 0.015 < waited < 0.5
        assert (runner.stats.timeouts, runner.stats.ok, runner.stats.fallbacks) == (1, 0, 1)
        # second stuck call: both workers now held; the third falls back at once without waiting
        assert (await runner.run(FEATS, Side.BUY)).source == "timeout"
        start = time.perf_counter()
        assert (await runner.run(FEATS, Side.SELL)).source == "busy"
        assert time.perf_counter() - start < 0.01
        assert (runner.stats.calls, runner.stats.timeouts, runner.stats.busy) == (3, 2, 1)
        release.set()  # the stuck calls finish; the workers are free again
        await asyncio.sleep(0.05)
    finally:
        runner.close()


async def test_a_fast_model_answers_for_the_side_and_errors_fall_back() -> None:
    params = ModelParams(weights={"ret_1": 200.0}, timeout_ms=500)
    runner = ModelRunner(LogisticModel(params), params)
    try:
        long_ = await runner.run(FEATS, Side.BUY)
        short = await runner.run(FEATS, Side.SELL)
        assert long_.source == short.source == "model" and long_.p + short.p == pytest.approx(1.0)
        assert long_.p > 0.5
        err = await runner.run({"ret_1": None}, Side.BUY)  # null feature: ModelInputError
        assert (err.p, err.source) == (0.5, "error")
        assert (runner.stats.ok, runner.stats.errors) == (2, 1)
    finally:
        runner.close()

    def out_of_range(features: object) -> float:
        return 1.7

    bad = ModelRunner(out_of_range, params)
    try:
        assert (await bad.run(FEATS, Side.BUY)).source == "error"
    finally:
        bad.close()


async def test_an_async_model_is_held_to_the_same_timeout() -> None:
    async def remote(features: object) -> float:
        await asyncio.sleep(1.0)
        return 0.6

    runner = ModelRunner(remote, ModelParams(timeout_ms=10))
    try:
        start = time.perf_counter()
        assert (await runner.run(FEATS, Side.BUY)).source == "timeout"
        assert time.perf_counter() - start < 0.5 and runner.stats.timeouts == 1
    finally:
        runner.close()


async def test_the_logistic_model_runs_in_place_so_no_deadline_can_change_a_decision() -> None:
    params = ModelParams(weights={"ret_1": 200.0}, timeout_ms=1)
    runner = ModelRunner(LogisticModel(params), params)
    try:
        outs = [await runner.run(FEATS, Side.BUY) for _ in range(200)]
        assert {o.source for o in outs} == {"model"} and runner.stats.timeouts == 0
        assert outs[0].p == LogisticModel(params).predict(FEATS)
        err = await runner.run({"ret_1": None}, Side.BUY)
        assert (err.source, runner.stats.errors, runner.stats.ok) == ("error", 1, 200)
    finally:
        runner.close()
