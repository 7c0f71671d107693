"""``POST /decide`` (spec §A S3.1, B1.1): a feature event in the body, S3's decision out.

The same decision as the agent's: the active bundle read once, the Redis inputs, the model, the
entry gate reserving under the ``intent_id``; an open's intent goes to ``ord.intents`` (and the
decision to ``sig.events``) before the answer, so budget the gate took is never held by an intent
nobody sent. The entry signal's per-symbol state of this endpoint is its own (in memory, one lock
per symbol): it is for callers outside the stream (S12, dry runs), not a second copy of the
agent's table. Status codes: 200 with the Decision; 422 for a body that is not a valid feature
event, naming the field (FastAPI's ``detail[].loc``); 503 while no bundle is active.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Callable

from fastapi import APIRouter, FastAPI
from fastapi.responses import JSONResponse

from agents.config.active import NoActiveConfig
from agents.strategy.core import Outcome
from agents.strategy.entry import SymbolState
from agents.strategy.records import PublishDecision, SendIntent
from agents.strategy.service import Strategy, event_of
from topics.codec import encode, key_for
from topics.trading import Decision
from topics.trading import FeatureEvent as FeatureMessage

PATH = "/decide"
Publish = Callable[[Outcome], Awaitable[None]]


class DecideService:
    def __init__(self, strategy: Strategy, publish: Publish) -> None:
        self.strategy = strategy
        self._publish = publish
        self._states: dict[str, SymbolState] = {}
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    async def decide(self, msg: FeatureMessage) -> Outcome:
        ev = event_of(msg)
        async with self._locks[msg.symbol]:  # one symbol's state is read, decided on and stored in turn
            _, out = await self.strategy.decide(self._states.get(msg.symbol, {}), ev)
            await self._publish(out)
            self._states[msg.symbol] = out.state
        return out


class KafkaPublisher:
    """Send an outcome's intent (first) and decision with confluent-kafka; wait for the broker's ack."""

    def __init__(self, bootstrap: str, prefix: str = "") -> None:
        from topics.producer import make_producer

        self._producer = make_producer(bootstrap, **{"acks": "all", "linger.ms": 0})
        self._prefix = prefix

    def _send(self, out: Outcome) -> None:
        errors: list[str] = []
        for effect in out.effects:
            model = effect.intent if isinstance(effect, SendIntent) else effect.decision
            name = "ord.intents" if isinstance(effect, SendIntent) else "sig.events"
            self._producer.produce(
                self._prefix + name,
                encode(model, name),
                key_for(name, model),
                on_delivery=lambda err, _m: errors.append(str(err)) if err else None,
            )
        if self._producer.flush(15) or errors:
            raise RuntimeError(f"outputs of {out.decision.signal_id} not delivered: {errors or 'timeout'}")

    async def __call__(self, out: Outcome) -> None:
        await asyncio.to_thread(self._send, out)


def decide_router(service: DecideService) -> APIRouter:
    router = APIRouter(tags=["strategy"])

    @router.post(PATH, response_model=Decision, summary="Decide on one feature event (S3)")
    async def decide(body: FeatureMessage) -> JSONResponse:
        try:
            out = await service.decide(body)
        except NoActiveConfig as exc:
            return JSONResponse({"detail": str(exc)}, status_code=503)
        assert all(isinstance(e, SendIntent | PublishDecision) for e in out.effects)
        return JSONResponse(out.decision.model_dump(mode="json"))

    return router


def create_app(service: DecideService) -> FastAPI:
    app = FastAPI(title="Chimera S3 strategy (internal)")
    app.include_router(decide_router(service))
    return app
