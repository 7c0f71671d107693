"""``ensure_topics`` and ``chimera topics`` against the real Apache Kafka broker of the CI stack."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from click.testing import CliRunner
from confluent_kafka.admin import AdminClient, NewTopic

from agents.connectors.replay import topic_names
from chimera.cli import main
from chimera.settings import get_settings
from topics import TOPICS, all_specs
from topics.admin import broker_topics, delete_topics, describe_configs, ensure_topics, plan

pytestmark = pytest.mark.kafka


@pytest.fixture
def prefix(kafka_bootstrap: str, unique_name: str) -> Iterator[str]:
    """A topic prefix of this test; its topics are deleted afterwards."""
    yield f"{unique_name}."
    mine = [name for name in broker_topics(kafka_bootstrap) if name.startswith(f"{unique_name}.")]
    delete_topics(kafka_bootstrap, mine)


def test_every_topic_and_its_twin_is_created_as_declared_then_left_alone(
    kafka_bootstrap: str, prefix: str
) -> None:
    report = ensure_topics(kafka_bootstrap, prefix, partitions=3)
    wanted = {prefix + s.name: s for s in all_specs()}
    assert set(report.created) == set(wanted) and len(wanted) == 2 * len(TOPICS) == 26
    assert report.existing == [] and report.warnings == []

    on_broker = broker_topics(kafka_bootstrap)
    assert {n: on_broker[n] for n in wanted} == {n: s.partition_count(3) for n, s in wanted.items()}
    assert on_broker[prefix + "ord.results"] == 3 and on_broker[prefix + "dlq.ord.results"] == 1
    assert on_broker[prefix + "cfg.events"] == 1
    configs = describe_configs(kafka_bootstrap, list(wanted))
    for name, spec in wanted.items():
        assert {k: configs[name][k] for k in spec.config()} == spec.config(), name
    assert configs[prefix + "cfg.events"]["cleanup.policy"] == "compact"
    assert configs[prefix + "metrics.events"]["retention.ms"] == str(86_400_000)

    again = ensure_topics(kafka_bootstrap, prefix, partitions=3)
    assert again.created == [] and set(again.existing) == set(wanted) and again.warnings == []
    assert broker_topics(kafka_bootstrap).keys() >= wanted.keys()


def test_a_different_partition_count_or_config_is_a_warning_not_a_change(
    kafka_bootstrap: str, prefix: str
) -> None:
    ensure_topics(kafka_bootstrap, prefix, partitions=2, names=["sig.events"])
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    odd = NewTopic(prefix + "alerts", 1, 1, config={"cleanup.policy": "delete", "retention.ms": "3600000"})
    admin.create_topics([odd])[prefix + "alerts"].result()

    report = ensure_topics(kafka_bootstrap, prefix, partitions=4, names=["sig.events", "alerts"])
    assert report.created == [prefix + "dlq.alerts"]
    assert report.warnings == [
        f"{prefix}sig.events: has 2 partitions, declared 4 (left as it is)",
        f"{prefix}alerts: retention.ms is 3600000, declared 2592000000 (left as it is)",
    ]
    assert broker_topics(kafka_bootstrap)[prefix + "sig.events"] == 2


def test_replay_creates_the_market_topics_from_the_registry(kafka_bootstrap: str, prefix: str) -> None:
    assert topic_names(prefix) == [p.name for p in plan(prefix, 1, ["mkt.spot", "mkt.perp", "mkt.funding"])]
    assert topic_names(prefix) == [
        prefix + n for m in ("mkt.spot", "mkt.perp", "mkt.funding") for n in (m, "dlq." + m)
    ]


def test_cli_create_prints_what_it_did_and_list_shows_the_broker(kafka_bootstrap: str, prefix: str) -> None:
    runner = CliRunner()
    args = ["--prefix", prefix, "--bootstrap", kafka_bootstrap]
    first = runner.invoke(main, ["topics", "create", *args])
    assert first.exit_code == 0, first.output
    n = get_settings().topic_partitions
    assert f"created  {prefix}ord.intents" in first.output and f"  {n} partitions  30 d" in first.output
    assert f"created  {prefix}cfg.events" in first.output
    assert (
        first.output.strip().splitlines()[-1]
        == f"26 created, 0 already existed, 0 warnings ({kafka_bootstrap})"
    )

    second = runner.invoke(main, ["topics", "create", *args])
    assert second.exit_code == 0, second.output
    assert f"exists   {prefix}ord.intents" in second.output
    assert "0 created, 26 already existed, 0 warnings" in second.output

    listed = runner.invoke(main, ["topics", "list", *args])
    assert listed.exit_code == 0, listed.output
    rows = {line.split()[0]: line.split() for line in listed.output.splitlines()[1:-1]}
    assert list(rows) == [prefix + name for name in TOPICS]
    cfg = rows[prefix + "cfg.events"]
    assert cfg == [
        prefix + "cfg.events",
        "bundle_id",
        "ConfigEvent",
        "1",
        "compact",
        "yes",
        "(1)",
        "yes",
        "(1)",
    ]
    assert rows[prefix + "ord.intents"][1:4] == ["symbol", "OrderIntent", "|"]
    assert rows[prefix + "ord.intents"][-4:] == ["yes", f"({n})", "yes", "(1)"]


def test_cli_list_without_a_broker_shows_the_contracts() -> None:
    result = CliRunner().invoke(main, ["topics", "list", "--offline", "--prefix", "bt.r9."])
    assert result.exit_code == 0, result.output
    assert "bt.r9.ops.events" in result.output and "missing" not in result.output
    down = CliRunner().invoke(main, ["topics", "list", "--bootstrap", "127.0.0.1:1"])
    assert down.exit_code == 0 and "cannot reach Kafka at 127.0.0.1:1" in down.stderr


def test_cli_create_refuses_a_prefix_kafka_would_refuse() -> None:
    result = CliRunner().invoke(
        main, ["topics", "create", "--prefix", "bad prefix.", "--bootstrap", "127.0.0.1:1"]
    )
    assert result.exit_code == 1 and "not a valid Kafka topic name" in result.output
