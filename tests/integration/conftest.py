"""Fixtures of the integration tests: :class:`Stack`\\ s of the test's own names on the shared Kafka,
Redis and clickhouse-server (dropped afterwards: the servers are shared, no FLUSHALL), and workers
on them (killed at teardown). A module-scoped pair serves runs that several tests look at."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pipeline_kit import Made, Stack

from tests.agents.worker_kit import Worker

StackFactory = Callable[[str], Stack]
WorkerFactory = Callable[[Stack], Worker]


@pytest.fixture
def made(
    kafka_bootstrap: str, redis_url: str, clickhouse_url: str, unique_name: str, tmp_path: Path
) -> Iterator[Made]:
    m = Made(kafka_bootstrap, redis_url, clickhouse_url, unique_name[:50], tmp_path)
    yield m
    m.close()


@pytest.fixture(scope="module")
def module_made(
    kafka_bootstrap: str, redis_url: str, clickhouse_url: str, tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
) -> Iterator[Made]:  # fmt: skip
    name = f"t_{request.module.__name__.rsplit('.', 1)[-1][:30]}_{uuid.uuid4().hex[:8]}"
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
