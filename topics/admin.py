"""Provision the declared topics on a broker, idempotently (confluent-kafka's AdminClient: Kafka 4.x safe).

``ensure_topics`` creates what is missing, reports what exists, and warns where an existing topic
differs from its declaration. It never alters an existing topic: adding partitions would move keys
to other partitions (breaking the per-symbol order of the trading path), and a retention change
is an operator's decision, so both are left to a person who reads the warning.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from topics.registry import TOPICS, TopicSpec, UnknownTopic, dlq_spec, physical_name

if TYPE_CHECKING:
    from confluent_kafka.admin import AdminClient

Action = Literal["created", "exists"]

# librdkafka's own log lines (one per failed connect, every 50 ms) go to this logger instead of
# stderr: the errors that matter are raised with the broker's address; enable it to see the rest
KAFKA_LOG = logging.getLogger("topics.admin.librdkafka")
KAFKA_LOG.addHandler(logging.NullHandler())


class BrokerUnavailable(RuntimeError):
    """The broker did not answer."""


@dataclass(frozen=True, slots=True)
class Planned:
    name: str  # physical
    spec: TopicSpec
    partitions: int


@dataclass(frozen=True, slots=True)
class TopicStatus:
    name: str
    spec: TopicSpec
    partitions: int  # declared
    action: Action
    actual_partitions: int | None = None
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class EnsureReport:
    bootstrap: str
    topics: tuple[TopicStatus, ...]

    @property
    def created(self) -> list[str]:
        return [t.name for t in self.topics if t.action == "created"]

    @property
    def existing(self) -> list[str]:
        return [t.name for t in self.topics if t.action == "exists"]

    @property
    def warnings(self) -> list[str]:
        return [w for t in self.topics for w in t.warnings]

    def summary(self) -> str:
        return (
            f"{len(self.created)} created, {len(self.existing)} already existed, "
            f"{len(self.warnings)} warnings ({self.bootstrap})"
        )


def plan(prefix: str, partitions: int, names: Iterable[str] | None = None) -> list[Planned]:
    """The physical topics for ``names`` (default: every declared topic), each with its DLQ twin."""
    chosen = list(TOPICS) if names is None else list(names)
    for name in chosen:
        if name not in TOPICS:
            raise UnknownTopic(name)
    out = []
    for name in chosen:
        for spec in (TOPICS[name], dlq_spec(TOPICS[name])):
            out.append(Planned(physical_name(prefix, spec.name), spec, spec.partition_count(partitions)))
    return out


def ensure_topics(
    bootstrap: str,
    prefix: str = "",
    partitions: int = 4,
    replication: int = 1,
    *,
    names: Iterable[str] | None = None,
    timeout: float = 15.0,
) -> EnsureReport:
    """Create every missing topic of the plan; report existing ones, warning where they differ.

    Returns once the created topics are visible in the broker's metadata, so a producer or a
    second call right after sees them.
    """
    wanted = plan(prefix, partitions, names)
    admin = _admin(bootstrap)
    present = broker_topics(bootstrap, timeout, admin)
    to_create = [p for p in wanted if p.name not in present]
    created = _create(admin, to_create, replication, timeout)
    if to_create:
        present = _await_topics(admin, [p.name for p in to_create], timeout)
    configs = _configs(admin, [p.name for p in wanted if p.name not in created], timeout)
    statuses = []
    for p in wanted:
        actual = present.get(p.name)
        if p.name in created:
            statuses.append(TopicStatus(p.name, p.spec, p.partitions, "created", actual))
        else:
            drift = tuple(_drift(p, actual, configs.get(p.name, {})))
            statuses.append(TopicStatus(p.name, p.spec, p.partitions, "exists", actual, drift))
    return EnsureReport(bootstrap, tuple(statuses))


def _create(admin: AdminClient, planned: list[Planned], replication: int, timeout: float) -> set[str]:
    """Create the planned topics; return the names this call created."""
    from confluent_kafka.admin import NewTopic

    if not planned:
        return set()
    new = [NewTopic(p.name, p.partitions, replication, config=p.spec.config()) for p in planned]
    created = set()
    for name, fut in admin.create_topics(new, operation_timeout=timeout, request_timeout=timeout).items():
        try:
            fut.result()
            created.add(name)
        except Exception as exc:  # a KafkaException; its KafkaError says why
            # created by someone else since we looked: it exists, and is checked like the others
            if _error_name(exc) != "TOPIC_ALREADY_EXISTS":
                raise RuntimeError(f"cannot create topic {name}: {exc}") from exc
    return created


def broker_topics(bootstrap: str, timeout: float = 10.0, admin: AdminClient | None = None) -> dict[str, int]:
    """Every topic on the broker with its partition count."""
    from confluent_kafka import KafkaException

    client = admin or _admin(bootstrap)
    try:
        meta = client.list_topics(timeout=timeout)
    except KafkaException as exc:
        raise BrokerUnavailable(f"cannot reach Kafka at {bootstrap}: {exc}") from exc
    return {name: len(t.partitions) for name, t in meta.topics.items() if t.error is None}


def delete_topics(bootstrap: str, names: list[str], timeout: float = 15.0) -> None:
    """Delete topics (tests and throwaway replays); a topic already gone is not an error."""
    if not names:
        return
    admin = _admin(bootstrap)
    for name, fut in admin.delete_topics(names, operation_timeout=timeout, request_timeout=timeout).items():
        try:
            fut.result()
        except Exception as exc:
            if _error_name(exc) != "UNKNOWN_TOPIC_OR_PART":
                raise RuntimeError(f"cannot delete topic {name}: {exc}") from exc


def _admin(bootstrap: str) -> AdminClient:
    from confluent_kafka.admin import AdminClient

    config: dict[str, Any] = {"bootstrap.servers": bootstrap, "logger": KAFKA_LOG}
    return AdminClient(config)


def _error_name(exc: Exception) -> str:
    err = exc.args[0] if exc.args else None
    name = getattr(err, "name", None)
    return str(name()) if callable(name) else ""


def _await_topics(admin: AdminClient, names: list[str], timeout: float) -> dict[str, int]:
    """Poll the metadata until every name shows with its partitions (creation is asynchronous)."""
    deadline = time.monotonic() + timeout
    while True:
        meta = admin.list_topics(timeout=timeout)
        present = {n: len(t.partitions) for n, t in meta.topics.items() if t.error is None and t.partitions}
        late = [n for n in names if n not in present]
        if not late:
            return present
        if time.monotonic() > deadline:
            raise RuntimeError(f"created topics not visible after {timeout:.0f} s: {late[:5]}")
        time.sleep(0.1)


def _configs(admin: AdminClient, names: list[str], timeout: float) -> dict[str, dict[str, str]]:
    """The effective config of existing topics (only the keys a spec declares are compared)."""
    from confluent_kafka.admin import ConfigResource, ResourceType

    if not names:
        return {}
    resources = [ConfigResource(ResourceType.TOPIC, n) for n in names]
    out: dict[str, dict[str, str]] = {}
    for res, fut in admin.describe_configs(resources, request_timeout=timeout).items():
        out[res.name] = {k: str(e.value) for k, e in fut.result().items()}
    return out


def _drift(p: Planned, actual: int | None, config: dict[str, str]) -> Iterable[str]:
    if actual is not None and actual != p.partitions:
        yield f"{p.name}: has {actual} partitions, declared {p.partitions} (left as it is)"
    for key, value in p.spec.config().items():
        if key in config and config[key] != value:
            yield f"{p.name}: {key} is {config[key]}, declared {value} (left as it is)"


def describe_configs(bootstrap: str, names: list[str], timeout: float = 10.0) -> dict[str, dict[str, str]]:
    """Every config entry of the named topics, as the broker reports it."""
    return _configs(_admin(bootstrap), names, timeout)
