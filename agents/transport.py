"""Faust's aiokafka transport with the consumer's fetch wait taken from our settings.

Faust passes ``fetch_max_wait_ms=1500`` to every worker consumer and has no setting for it. On Tansu
that is the latency of every hop, because Tansu answers a fetch only when the wait expires, even when
data is there (DESIGN §2). aiokafka reads the value from the consumer's ``_fetch_max_wait_ms`` when
it builds its fetcher in ``start()``, so we set it on the consumer Faust has just built, before it
starts. The attribute is private: ``_create_worker_consumer`` fails loudly if aiokafka renames it.
"""

from __future__ import annotations

from typing import Any, ClassVar

import aiokafka
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import ConsumerT

DEFAULT_FETCH_WAIT_MS = 1500  # Faust's hard-coded value


class _ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: faust_aiokafka.Transport) -> aiokafka.AIOKafkaConsumer:
        consumer = super()._create_worker_consumer(transport)
        if not hasattr(consumer, "_fetch_max_wait_ms"):
            raise RuntimeError("AIOKafkaConsumer._fetch_max_wait_ms is gone: update agents/transport.py")
        consumer._fetch_max_wait_ms = fetch_wait_ms(self.app)
        return consumer


class _Consumer(faust_aiokafka.Consumer):
    def _new_consumer_thread(self) -> faust_aiokafka.AIOKafkaConsumerThread:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)


class Transport(faust_aiokafka.Transport):
    """The aiokafka transport whose worker consumer uses the app's ``fetch_wait_ms``."""

    Consumer: ClassVar[type[ConsumerT]] = _Consumer


def fetch_wait_ms(app: Any) -> int:
    """The fetch wait an app asks for (``ChimeraApp.fetch_wait_ms``), else Faust's default."""
    return int(getattr(app, "fetch_wait_ms", DEFAULT_FETCH_WAIT_MS))
