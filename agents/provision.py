"""Create the topics an app uses before its worker consumes: the declared topics its agents read and
write (each with its dead-letter twin, by ``topics.admin.ensure_topics``) and the changelog topics
of its tables (compacted, partitioned like the table).

Faust could declare them itself, but the DESIGN provisions with confluent-kafka's admin client, which
is safe on Kafka 4.x (KIP-896 removed old protocol versions) and on Tansu; the app runs with
``topic_allow_declare=False``.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from topics.admin import broker_topics, ensure_topics

if TYPE_CHECKING:
    from agents.app import ChimeraApp

log = logging.getLogger(__name__)
TIMEOUT_S = 15.0


def declared_names(app: ChimeraApp) -> list[str]:
    """The logical topics the app's agents use; dead-letter twins come with them."""
    return sorted(n for n in app.inputs | app.outputs if not n.startswith("dlq."))


def changelog_topics(app: ChimeraApp) -> dict[str, int]:
    """Physical changelog topic -> partitions. The app id carries the prefix, so do these names."""
    return {
        t.changelog_topic.get_topic_name(): t.partitions or app.settings.topic_partitions
        for t in app.tables.values()
    }


def create_changelogs(bootstrap: str, wanted: dict[str, int], replication: int) -> list[str]:
    """Create the missing changelog topics; return the names created."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient, NewTopic

    missing = [n for n in wanted if n not in broker_topics(bootstrap, TIMEOUT_S)]
    if not missing:
        return []
    admin = AdminClient({"bootstrap.servers": bootstrap})
    new = [NewTopic(n, wanted[n], replication, config={"cleanup.policy": "compact"}) for n in missing]
    for name, fut in admin.create_topics(new, operation_timeout=TIMEOUT_S).items():
        try:
            fut.result()
        except KafkaException as exc:
            if exc.args[0].name() != "TOPIC_ALREADY_EXISTS":  # another worker of the group won the race
                raise RuntimeError(f"cannot create topic {name}: {exc}") from exc
    return missing


def provision(app: ChimeraApp) -> None:
    s = app.settings
    report = ensure_topics(
        s.kafka_bootstrap, s.topic_prefix, s.topic_partitions, s.topic_replication, names=declared_names(app)
    )
    for warning in report.warnings:
        log.warning("%s", warning)
    changelogs = create_changelogs(s.kafka_bootstrap, changelog_topics(app), s.topic_replication)
    created = report.created + changelogs
    if created:
        log.info("created topics: %s", ", ".join(sorted(created)))
