"""S4's ``POST /orders`` and ``POST /cancel`` (the spec's), as a FastAPI router, and an app factory.

The body *is* the wire contract — an :class:`~topics.trading.OrderIntent` or a
:class:`~topics.trading.CancelIntent` — validated by pydantic: an invalid body is a 422 whose
``detail`` names the field (``loc``). A valid one goes on ``ord.intents`` keyed by its symbol, like
S3's and S6's intents: the router handles HTTP intents the way it handles all others (same
idempotency records, same venue), and the handler answers with the router's first ``OrderResult``
for it, read from ``ord.results``:

- ``/orders``: the result of the intent's first order (``intent_id`` matches). A repeated
  ``intent_id`` places nothing new; the router answers it with the recorded orders' current
  state, so the repeat gets the recorded result.
- ``/cancel``: the first result of the cancelled intent's orders, or of the cancel's own flatten
  order. A target with nothing left to cancel produces no result.

No result within ``wait_s``: 202 with the intent_id — the intent is on the broker and its result
will follow on ``ord.results``. Kafka unreachable: 503 (nothing was sent that the broker holds).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Protocol

import aiokafka
from aiokafka.errors import KafkaError
from fastapi import APIRouter, FastAPI
from fastapi.responses import JSONResponse

from chimera.settings import Settings
from topics.codec import encode
from topics.trading import CancelIntent, OrderIntent, OrderResult

log = logging.getLogger(__name__)
WAIT_S = 5.0


class IntentBus(Protocol):
    async def submit(self, msg: OrderIntent | CancelIntent, wait_s: float) -> OrderResult | None:
        """Send the intent; return the router's first result for it, or None after ``wait_s``."""
        ...


def _answers(msg: OrderIntent | CancelIntent) -> set[str]:
    """The intent_ids whose results answer ``msg``."""
    if isinstance(msg, CancelIntent):
        return {msg.target_intent_id, msg.intent_id}
    return {msg.intent_id}


class KafkaIntentBus:
    """``ord.intents`` out (aiokafka: murmur2, the agents' partitioner), ``ord.results`` followed from
    its end by a consumer of no group, each result handed to whoever waits for its intent_id."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._producer: aiokafka.AIOKafkaProducer | None = None
        self._consumer: aiokafka.AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        self._waiting: dict[str, list[asyncio.Future[OrderResult]]] = {}

    async def start(self) -> None:
        servers = self.settings.kafka_bootstrap.split(",")
        self._producer = aiokafka.AIOKafkaProducer(bootstrap_servers=servers, acks="all")
        await self._producer.start()
        topic = self.settings.topic("ord.results")
        self._consumer = aiokafka.AIOKafkaConsumer(
            bootstrap_servers=servers,
            enable_auto_commit=False,
            fetch_max_wait_ms=max(self.settings.fetch_wait_ms, 5),
        )
        await self._consumer.start()
        try:
            parts = await self._producer.partitions_for(topic)  # waits for the topic's metadata
        except KafkaError as exc:
            await self.close()
            raise RuntimeError(f"{topic} is not there (`chimera topics create`): {exc}") from exc
        tps = [aiokafka.TopicPartition(topic, p) for p in sorted(parts)]
        self._consumer.assign(tps)
        await self._consumer.seek_to_end(*tps)
        for tp in tps:  # resolve the end now: a result that comes after our send must not be missed
            await self._consumer.position(tp)
        self._task = asyncio.create_task(self._follow())

    async def _follow(self) -> None:
        assert self._consumer is not None
        while True:
            got = await self._consumer.getmany(timeout_ms=200)
            for records in got.values():
                for rec in records:
                    try:
                        result = OrderResult.decode(rec.value or b"")
                    except ValueError:
                        continue  # not ours to judge: the router's consumers dead-letter it
                    for fut in self._waiting.pop(result.intent_id, []):
                        if not fut.done():
                            fut.set_result(result)

    async def submit(self, msg: OrderIntent | CancelIntent, wait_s: float) -> OrderResult | None:
        assert self._producer is not None, "KafkaIntentBus.start() first"
        fut: asyncio.Future[OrderResult] = asyncio.get_running_loop().create_future()
        keys = _answers(msg)
        for k in keys:
            self._waiting.setdefault(k, []).append(fut)
        try:
            await self._producer.send_and_wait(
                self.settings.topic("ord.intents"), key=msg.symbol.encode(), value=encode(msg, "ord.intents")
            )
            return await asyncio.wait_for(fut, wait_s)
        except TimeoutError:
            return None
        finally:
            for k in keys:
                waiters = self._waiting.get(k, [])
                if fut in waiters:
                    waiters.remove(fut)
                if not waiters:
                    self._waiting.pop(k, None)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task
        if self._consumer is not None:
            await self._consumer.stop()
        if self._producer is not None:
            await self._producer.stop()


def _answer(result: OrderResult | None, msg: OrderIntent | CancelIntent) -> JSONResponse:
    if result is None:
        return JSONResponse({"intent_id": msg.intent_id, "status": "ACCEPTED"}, status_code=202)
    return JSONResponse(result.model_dump(mode="json"), status_code=200)


def orders_router(bus: IntentBus, wait_s: float = WAIT_S) -> APIRouter:
    router = APIRouter(tags=["orders"])
    responses: dict[int | str, dict[str, object]] = {
        202: {"description": "on ord.intents; no result yet"},
        503: {"description": "Kafka unreachable: nothing sent"},
    }

    @router.post("/orders", response_model=OrderResult, responses=responses, summary="Place an order intent")
    async def orders(body: OrderIntent) -> JSONResponse:
        try:
            return _answer(await bus.submit(body, wait_s), body)
        except KafkaError as exc:
            return JSONResponse({"detail": f"ord.intents unreachable: {exc}"}, status_code=503)

    @router.post(
        "/cancel", response_model=OrderResult, responses=responses, summary="Cancel an intent's orders"
    )
    async def cancel(body: CancelIntent) -> JSONResponse:
        try:
            return _answer(await bus.submit(body, wait_s), body)
        except KafkaError as exc:
            return JSONResponse({"detail": f"ord.intents unreachable: {exc}"}, status_code=503)

    return router


def create_app(bus: IntentBus, wait_s: float = WAIT_S) -> FastAPI:
    """The router's API with a bus; a :class:`KafkaIntentBus` is started and closed with the app."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if isinstance(bus, KafkaIntentBus):
            await bus.start()
        try:
            yield
        finally:
            if isinstance(bus, KafkaIntentBus):
                await bus.close()

    app = FastAPI(title="Chimera S4 order router", lifespan=lifespan)
    app.include_router(orders_router(bus, wait_s))
    return app
