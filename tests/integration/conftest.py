"""Fixtures of the integration tests: :class:`Stack`\\ s of the test's own names on the shared Kafka,
Redis and clickhouse-server (dropped afterwards: the servers are shared, no FLUSHALL), workers on
them (killed at teardown), and one clean run of the replay that several tests compare with."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pipeline_kit import Made, StackFactory, WorkerFactory
from runs import Run, replay_run


@pytest.fixture
def made(
    kafka_bootstrap: str, redis_url: str, clickhouse_url: str, unique_name: str, tmp_path: Path
) -> Iterator[Made]:
    m = Made(kafka_bootstrap, redis_url, clickhouse_url, unique_name[:50], tmp_path)
    yield m
    m.close()


@pytest.fixture(scope="session")
def session_made(
    kafka_bootstrap: str, redis_url: str, clickhouse_url: str, tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Made]:  # fmt: skip
    name = f"t_integration_{uuid.uuid4().hex[:8]}"
    m = Made(kafka_bootstrap, redis_url, clickhouse_url, name, tmp_path_factory.mktemp(name))
    yield m
    m.close()


@pytest.fixture
def make_stack(made: Made) -> StackFactory:
    return made.stack


@pytest.fixture
def make_worker(made: Made) -> WorkerFactory:
    """``make_worker(stack)``: a not-yet-started worker on the stack (two made on one stack share
    the app id: a restart)."""
    return made.worker


@pytest.fixture(scope="session")
def clean(session_made: Made) -> Run:
    """One clean paced run, looked at by the pipeline, redelivery and crash tests."""
    return replay_run(session_made, "clean")
