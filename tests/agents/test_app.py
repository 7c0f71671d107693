"""The one Faust app: built from Settings only, runs the chosen services, provisions its topics."""

from __future__ import annotations

import subprocess

import pytest
from confluent_kafka.admin import AdminClient, ConfigResource, ResourceType
from faust.types.enums import ProcessingGuarantee

from agents.app import agent_modules, create_app
from chimera.settings import Settings
from tests.agents.worker_kit import CHIMERA, WorkerFactory


def test_app_is_built_from_the_settings_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEB_PORT", "1")  # a Faust env var: ignored, the settings are the only source
    monkeypatch.setenv("BROKER_SESSION_TIMEOUT", "99")
    settings = Settings(
        kafka_bootstrap="h1:9092,h2:9093",
        topic_prefix="bt.r1.",
        worker_id="chimera",
        worker_web_port=16123,
        topic_partitions=3,
        services=("features",),
        consumer_fetch_wait_ms=7,
        consumer_max_fetch_bytes=3 * 1024 * 1024,
    )
    app = create_app(settings)
    conf = app.conf
    assert conf.id == "bt.r1.chimera"  # so a replay's group and changelog topics are its own
    assert [str(u) for u in conf.broker] == ["kafka://h1:9092", "kafka://h2:9093"]
    assert conf.web_port == 16123 and conf.broker_session_timeout == 10.0
    assert conf.store.scheme == "memory"
    assert conf.processing_guarantee is ProcessingGuarantee.AT_LEAST_ONCE
    assert not conf.topic_allow_declare and conf.topic_partitions == 3
    assert conf.autodiscover == ["agents.features.agent"]
    assert app.fetch_wait_ms == 7
    assert conf.consumer_max_fetch_size == 3 * 1024 * 1024  # aiokafka's max_partition_fetch_bytes
    assert app.settings.topic("mkt.perp") == "bt.r1.mkt.perp"


def test_services_without_an_agent_module_are_left_out_and_unknown_ones_refused() -> None:
    assert agent_modules(("features", "gateway")) == ["agents.features.agent"]
    with pytest.raises(ValueError, match="unknown services"):
        agent_modules(("features", "feature"))


def test_worker_command_refuses_an_unknown_service() -> None:
    done = subprocess.run([CHIMERA, "worker", "--services", "features,nope"], capture_output=True, text=True)
    assert done.returncode == 2 and "unknown services ['nope']" in done.stderr


@pytest.mark.kafka
def test_worker_provisions_its_topics_before_consuming(
    kafka_bootstrap: str, make_worker: WorkerFactory
) -> None:
    worker = make_worker(kafka_bootstrap).start()
    prefix = worker.env["CHIMERA_TOPIC_PREFIX"]
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    topics = admin.list_topics(timeout=10).topics
    partitions = {n[len(prefix) :]: len(t.partitions) for n, t in topics.items() if n.startswith(prefix)}
    assert partitions == {
        "mkt.perp": 2,
        "mkt.spot": 2,
        "feat.events": 2,
        "dlq.mkt.perp": 1,
        "dlq.mkt.spot": 1,
        "dlq.feat.events": 1,
        "metrics.events": 2,
        "dlq.metrics.events": 1,
        "cfg.events": 1,  # S2 follows the active bundle on it
        "dlq.cfg.events": 1,
        "w-features-changelog": 2,  # partitioned like the input it is keyed from
    }
    changelog = ConfigResource(ResourceType.TOPIC, prefix + "w-features-changelog")
    config = admin.describe_configs([changelog])[changelog].result()
    assert config["cleanup.policy"].value == "compact"
