"""Every topic of DESIGN §3, declared once: key, schema, partitions, retention or compaction.

The area modules (``topics.market``, ``topics.trading``, ``topics.ops``) ``register`` their topics
when imported; ``import topics`` imports them all, so ``TOPICS`` is complete.

A logical name (``mkt.perp``) becomes a physical one through ``Settings.topic`` (which adds the
optional prefix, e.g. ``bt.<run_id>.`` for a replay); each topic has a dead-letter twin
``dlq.<topic>`` under the same prefix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal, get_args

from pydantic import BaseModel, RootModel

from topics.envelope import DeadLetter

Key = Literal["symbol", "signal_id", "bundle", "service", "none"]
DAY_MS = 86_400_000

# the message field each key is taken from; "none" topics are produced without a key
KEY_FIELDS: dict[Key, str | None] = {
    "symbol": "symbol",
    "signal_id": "signal_id",
    "bundle": "bundle_id",
    "service": "service",
    "none": None,
}

# partitions: "trading" = the one count shared by the co-partitioned trading path (DESIGN §1.4)
Partitions = Literal["trading"] | int

# Kafka's own rule for topic names
_TOPIC_NAME = re.compile(r"^[A-Za-z0-9._-]{1,249}$")


@dataclass(frozen=True, slots=True)
class TopicSpec:
    name: str
    key: Key
    schema: type[BaseModel]
    partitions: Partitions = "trading"
    retention_ms: int | None = 7 * DAY_MS  # None with compact=True: keep the latest per key forever
    compact: bool = False
    flow: str = ""  # who produces → who consumes, as in DESIGN §3

    def partition_count(self, trading_partitions: int) -> int:
        return trading_partitions if self.partitions == "trading" else self.partitions

    def config(self) -> dict[str, str]:
        """Topic-level broker config for creation."""
        conf = {"cleanup.policy": "compact" if self.compact else "delete"}
        if self.retention_ms is not None:
            conf["retention.ms"] = str(self.retention_ms)
        return conf

    def schema_name(self) -> str:
        """The schema's name; a union topic (a RootModel) shows its members."""
        return schema_label(self.schema)


def schema_label(schema: type[BaseModel]) -> str:
    if issubclass(schema, RootModel):
        names = [m.__name__ for m in union_members(schema)]
        return " | ".join(names) or schema.__name__
    return schema.__name__


def union_members(schema: type[BaseModel]) -> list[type[BaseModel]]:
    """The models a topic's messages may be: the schema itself, or a RootModel union's members."""
    if not issubclass(schema, RootModel):
        return [schema]
    return _models_in(schema.model_fields["root"].annotation)


def _models_in(tp: object) -> list[type[BaseModel]]:
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return [tp]
    # a union or Annotated[...]: its arguments (metadata such as a Discriminator is no model)
    return [m for arg in get_args(tp) for m in _models_in(arg)]


def dlq_name(topic: str) -> str:
    """The dead-letter topic of a logical topic."""
    return f"dlq.{topic}"


def dlq_spec(spec: TopicSpec) -> TopicSpec:
    # one partition: dead letters are rare and read by people, in the order they came
    return TopicSpec(dlq_name(spec.name), spec.key, DeadLetter, 1, 30 * DAY_MS, flow="any → operators")


TOPICS: dict[str, TopicSpec] = {}


def register(*specs: TopicSpec) -> None:
    for spec in specs:
        if spec.name in TOPICS:
            raise ValueError(f"topic {spec.name!r} declared twice")
        if spec.name.startswith("dlq.") or not _TOPIC_NAME.match(spec.name):
            raise ValueError(f"{spec.name!r} is not a valid logical topic name")
        TOPICS[spec.name] = spec
    split_topic.cache_clear()


def all_specs() -> list[TopicSpec]:
    """Every topic and its dead-letter twin."""
    return [s for spec in TOPICS.values() for s in (spec, dlq_spec(spec))]


def spec_of(name: str) -> TopicSpec:
    """The spec of a logical topic or of a dead-letter twin (``dlq.<topic>``)."""
    if name in TOPICS:
        return TOPICS[name]
    if name.startswith("dlq.") and name[4:] in TOPICS:
        return dlq_spec(TOPICS[name[4:]])
    raise UnknownTopic(name)


@lru_cache(maxsize=4096)  # called on every consumed record; the registry is fixed after import
def split_topic(physical: str) -> tuple[str, str]:
    """Split a physical topic name: ``bt.r1.dlq.mkt.perp`` -> ``("bt.r1.", "dlq.mkt.perp")``.

    The logical name is the longest declared name (or dead-letter twin) the topic ends with at a
    ``.`` boundary, so a consumer needs no prefix setting to know what it reads.
    """
    best: str | None = None
    for spec in all_specs():
        name = spec.name
        if (physical == name or physical.endswith("." + name)) and (best is None or len(name) > len(best)):
            best = name
    if best is None:
        raise UnknownTopic(physical)
    return physical[: len(physical) - len(best)], best


def physical_name(prefix: str, logical: str) -> str:
    """``prefix + logical``, refused when Kafka would refuse it."""
    name = prefix + logical
    if not _TOPIC_NAME.match(name) or name in (".", ".."):
        raise ValueError(f"{name!r} is not a valid Kafka topic name (letters, digits, '.', '_', '-'; ≤ 249)")
    return name


class UnknownTopic(KeyError):
    """A topic that no module of ``topics/`` declares."""

    def __init__(self, topic: str) -> None:
        super().__init__(topic)
        self.topic = topic

    def __str__(self) -> str:
        return f"topic {self.topic!r} is not declared in topics/ (known: {', '.join(sorted(TOPICS))})"
