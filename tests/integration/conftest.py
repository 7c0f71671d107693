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
from pipeline_kit import Stack

from sinks.clickhouse.migrate import migrate
from sinks.clickhouse.server_backend import ServerBackend
from tests.agents.worker_kit import Worker

StackFactory = Callable[[str], Stack]
WorkerFactory = Callable[[Stack], Worker]


class _Made:
    def __init__(self, bootstrap: str, redis_url: str, clickhouse_url: str, base: str, tmp: Path) -> None:
        self.args = (bootstrap, redis_url, clickhouse_url)
        self.base, self.tmp = base, tmp
        self.stacks: list[Stack] = []
        self.workers: list[Worker] = []

    def stack(self, name: str = "") -> Stack:
        bootstrap, redis_url, clickhouse_url = self.args
        db = f"{self.base}{name}"
        backend = ServerBackend(clickhouse_url, db)
        try:
            migrate(backend)
        finally:
            backend.close()
        s = Stack(bootstrap, f"{db}.", redis_url, clickhouse_url, db, self.tmp / f"data{name}")
        self.stacks.append(s)
        return s

    def worker(self, stack: Stack) -> Worker:
        w = Worker(stack.env(), self.tmp / f"worker{len(self.workers)}.log")
        self.workers.append(w)
        return w

    def close(self) -> None:
        for w in self.workers:
            w.close()
        for s in self.stacks:
            s.close()
            backend = ServerBackend(s.clickhouse_url, s.database)
            try:
                backend.execute(f"DROP DATABASE IF EXISTS {s.database}")
            finally:
                backend.close()
            with s.redis() as client:
                for key in client.scan_iter(match=f"{s.prefix}*", count=500):
                    client.unlink(key)


@pytest.fixture
def made(
    kafka_bootstrap: str, redis_url: str, clickhouse_url: str, unique_name: str, tmp_path: Path
) -> Iterator[_Made]:
    m = _Made(kafka_bootstrap, redis_url, clickhouse_url, unique_name[:50], tmp_path)
    yield m
    m.close()


@pytest.fixture(scope="module")
def module_made(
    kafka_bootstrap: str, redis_url: str, clickhouse_url: str, tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
) -> Iterator[_Made]:  # fmt: skip
    name = f"t_{request.module.__name__.rsplit('.', 1)[-1][:30]}_{uuid.uuid4().hex[:8]}"
    m = _Made(kafka_bootstrap, redis_url, clickhouse_url, name, tmp_path_factory.mktemp(name))
    yield m
    m.close()


@pytest.fixture
def make_stack(made: _Made) -> StackFactory:
    return made.stack


@pytest.fixture
def make_worker(made: _Made) -> WorkerFactory:
    """``make_worker(stack)``: a not-yet-started worker on the stack (two made on one stack share
    the app id: a restart)."""
    return made.worker
