"""``chimera topics create`` and ``chimera topics list``: the declared contracts on a broker."""

from __future__ import annotations

import click

from chimera.settings import get_settings
from topics.admin import BrokerUnavailable, broker_topics, ensure_topics
from topics.registry import DAY_MS, KEY_FIELDS, TOPICS, TopicSpec, dlq_name, physical_name

_PREFIX_HELP = "topic prefix, e.g. bt.run1. (default: settings.topic_prefix)"
_BOOTSTRAP_HELP = "Kafka bootstrap servers (default: settings.kafka_bootstrap)"


@click.group()
def topics() -> None:
    """Create and list the Kafka topics declared in topics/ (DESIGN §3), each with its dlq. twin."""


@topics.command()
@click.option("--prefix", default=None, help=_PREFIX_HELP)
@click.option("--bootstrap", default=None, help=_BOOTSTRAP_HELP)
def create(prefix: str | None, bootstrap: str | None) -> None:
    """Create every declared topic and its dlq. twin; existing topics are reported and left alone."""
    settings = get_settings()
    try:
        report = ensure_topics(
            bootstrap or settings.kafka_bootstrap,
            settings.topic_prefix if prefix is None else prefix,
            settings.topic_partitions,
            settings.topic_replication,
        )
    except (RuntimeError, ValueError) as exc:  # BrokerUnavailable is a RuntimeError
        raise click.ClickException(str(exc)) from exc
    width = max(len(t.name) for t in report.topics)
    for t in report.topics:
        count = t.actual_partitions if t.actual_partitions is not None else t.partitions
        click.echo(f"{t.action:<8} {t.name:<{width}}  {count} partitions  {_retention(t.spec)}")
    for warning in report.warnings:
        click.echo(f"warning: {warning}", err=True)
    click.echo(report.summary())


@topics.command("list")
@click.option("--prefix", default=None, help=_PREFIX_HELP)
@click.option("--bootstrap", default=None, help=_BOOTSTRAP_HELP)
@click.option("--offline", is_flag=True, help="only the declarations; do not ask the broker")
def list_(prefix: str | None, bootstrap: str | None, offline: bool) -> None:
    """Show the declared topics (key, schema, partitions, retention) and whether each is on the broker."""
    settings = get_settings()
    prefix = settings.topic_prefix if prefix is None else prefix
    bootstrap = bootstrap or settings.kafka_bootstrap
    on_broker: dict[str, int] | None = None
    if not offline:
        try:
            on_broker = broker_topics(bootstrap, timeout=5.0)
        except BrokerUnavailable as exc:
            click.echo(f"note: {exc}; showing the declarations only", err=True)
    rows = [("topic", "key", "schema", "partitions", "retention", "on broker", "dlq twin")]
    for spec in TOPICS.values():
        name = physical_name(prefix, spec.name)
        rows.append(
            (
                name,
                KEY_FIELDS[spec.key] or "—",
                spec.schema_name(),
                str(spec.partition_count(settings.topic_partitions)),
                _retention(spec),
                _presence(on_broker, name),
                _presence(on_broker, physical_name(prefix, dlq_name(spec.name))),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    click.echo(f"dead-letter twins dlq.<topic>: DeadLetter, 1 partition, 30 d; broker: {bootstrap}")


def _presence(on_broker: dict[str, int] | None, name: str) -> str:
    if on_broker is None:
        return "?"
    return f"yes ({on_broker[name]})" if name in on_broker else "missing"


def _retention(spec: TopicSpec) -> str:
    if spec.compact:
        return "compact"
    if spec.retention_ms is None:
        return "broker default"
    days, rest = divmod(spec.retention_ms, DAY_MS)
    return f"{days} d" if not rest else f"{spec.retention_ms // 3_600_000} h"
