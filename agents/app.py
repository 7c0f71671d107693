"""The one Faust app: ``faust -A agents.app worker`` or ``chimera worker`` runs it.

Everything comes from :class:`chimera.settings.Settings` (Faust is told to read no environment of
its own). The app id is the worker id under the topic prefix, so a replay's workers (prefix
``bt.<run_id>.``) have their own consumer group and their own changelog topics. Which agents run is
``Settings.services``: the app imports ``agents.<service>.agent`` for each of them when the worker
starts (autodiscover), and only those.

Topics are created with the confluent-kafka admin client before the worker's consumer starts
(:mod:`agents.provision`); Faust itself declares nothing (``topic_allow_declare=False``).
"""

from __future__ import annotations

import importlib.util
import logging
from typing import Any

import faust
from faust.types import TopicT, TransportT

from agents.transport import Transport
from chimera.settings import ALL_SERVICES, Settings, get_settings

log = logging.getLogger(__name__)

# kill -9 of a worker leaves its group member behind until the session times out; Faust's 60 s would
# stall the successor's rebalance that long. Heartbeats run on Faust's consumer thread, so a busy
# event loop does not miss them.
SESSION_TIMEOUT_S = 10.0
HEARTBEAT_S = 2.0


class ChimeraApp(faust.App):
    """``faust.App`` that knows its settings, uses our transport and provisions its topics."""

    def __init__(self, settings: Settings, **options: Any) -> None:
        self.settings = settings
        self.fetch_wait_ms = settings.fetch_wait_ms  # read by agents.transport
        self.outputs: set[str] = set()  # logical names of the topics the agents send to
        self.inputs: set[str] = set()
        self.agent_modules = agent_modules(settings.services)
        super().__init__(
            settings.topic(settings.worker_id),
            broker=[f"kafka://{hp.strip()}" for hp in settings.kafka_bootstrap.split(",")],
            env={},
            autodiscover=list(self.agent_modules),
            store="memory://",  # tables recover from their changelog topics
            processing_guarantee="at_least_once",
            topic_allow_declare=False,
            topic_disable_leader=True,
            topic_partitions=settings.topic_partitions,
            topic_replication_factor=settings.topic_replication,
            broker_session_timeout=SESSION_TIMEOUT_S,
            broker_heartbeat_interval=HEARTBEAT_S,
            consumer_max_fetch_size=settings.consumer_max_fetch_bytes,
            web_port=settings.worker_web_port,
            datadir=str(settings.data_dir / "faust" / "{conf.id}"),
            **options,
        )

    def _new_transport(self) -> TransportT:
        return Transport(self.conf.broker_consumer, self)

    async def on_first_start(self) -> None:
        self.conf.datadir.parent.mkdir(parents=True, exist_ok=True)  # Faust makes only the last level
        await super().on_first_start()
        idle = [s for s in self.settings.services if f"agents.{s}.agent" not in self.agent_modules]
        log.info("running %s; no agent module yet: %s", ", ".join(self.agent_modules), ", ".join(idle) or "-")
        from agents.provision import provision

        await self.loop.run_in_executor(None, provision, self)

    def input_topic(self, *names: str) -> TopicT:
        """The channel of logical topics an agent consumes, records left raw for the shell to validate."""
        self.inputs.update(names)
        return self.topic(
            *(self.settings.topic(n) for n in names),
            key_type=bytes,
            value_type=bytes,
            key_serializer="raw",
            value_serializer="raw",
        )

    def output_topic(self, name: str) -> TopicT:
        """A logical topic an agent sends encoded records (bytes) to."""
        self.outputs.add(name)
        return self.topic(
            self.settings.topic(name),
            key_type=bytes,
            value_type=bytes,
            key_serializer="raw",
            value_serializer="raw",
        )


def agent_modules(services: tuple[str, ...]) -> list[str]:
    """The agent modules of the chosen services; a service without one yet is left out."""
    unknown = sorted(set(services) - set(ALL_SERVICES))
    if unknown:
        raise ValueError(f"unknown services {unknown}; known: {', '.join(ALL_SERVICES)}")
    modules = []
    for service in services:
        name = f"agents.{service}.agent"
        try:
            found = importlib.util.find_spec(name) is not None
        except ModuleNotFoundError:  # no agents.<service> package yet
            found = False
        if found:
            modules.append(name)
    return modules


def create_app(settings: Settings) -> ChimeraApp:
    return ChimeraApp(settings)


app = create_app(get_settings())
