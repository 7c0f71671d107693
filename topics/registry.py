"""Every topic of DESIGN §3, declared once: key, schema, partitions, retention or compaction.

A logical name (``mkt.perp``) becomes a physical one through ``Settings.topic`` (which adds the
optional prefix, e.g. ``bt.<run_id>.`` for a replay); each topic has a dead-letter twin
``dlq.<topic>`` under the same prefix.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel

from topics.dlq import DeadLetter

Key = Literal["symbol", "signal_id", "bundle", "service", "none"]
DAY_MS = 86_400_000

# partitions: "trading" = the one count shared by the co-partitioned trading path (DESIGN §1.4)
Partitions = Literal["trading"] | int


@dataclass(frozen=True, slots=True)
class TopicSpec:
    name: str
    key: Key
    schema: type[BaseModel]
    partitions: Partitions = "trading"
    retention_ms: int | None = 7 * DAY_MS  # None with compact=True: keep the latest per key forever
    compact: bool = False

    def partition_count(self, trading_partitions: int) -> int:
        return trading_partitions if self.partitions == "trading" else self.partitions

    def config(self) -> dict[str, str]:
        """Topic-level broker config for creation."""
        conf = {"cleanup.policy": "compact" if self.compact else "delete"}
        if self.retention_ms is not None:
            conf["retention.ms"] = str(self.retention_ms)
        return conf


def dlq_name(topic: str) -> str:
    """The dead-letter topic of a logical topic."""
    return f"dlq.{topic}"


def dlq_spec(spec: TopicSpec) -> TopicSpec:
    return TopicSpec(dlq_name(spec.name), spec.key, DeadLetter, 1, 30 * DAY_MS)


TOPICS: dict[str, TopicSpec] = {}


def register(*specs: TopicSpec) -> None:
    for spec in specs:
        if spec.name in TOPICS:
            raise ValueError(f"topic {spec.name!r} declared twice")
        TOPICS[spec.name] = spec


def all_specs() -> list[TopicSpec]:
    """Every topic and its dead-letter twin."""
    return [s for spec in TOPICS.values() for s in (spec, dlq_spec(spec))]
