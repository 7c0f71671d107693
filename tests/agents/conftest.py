"""Fixtures of the agent tests: a broker parameter (Apache Kafka and Tansu) and real workers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.agents.worker_kit import Worker, WorkerFactory, worker_env


@pytest.fixture(params=["kafka", "tansu"])
def any_bootstrap(request: pytest.FixtureRequest) -> str:
    """The same test on the real Apache Kafka broker and on Tansu (the embedded default)."""
    request.applymarker(getattr(pytest.mark, request.param))
    return str(request.getfixturevalue(f"{request.param}_bootstrap"))


@pytest.fixture
def make_worker(tmp_path: Path, unique_name: str) -> Iterator[WorkerFactory]:
    """``make_worker(bootstrap, **env)``: a not-yet-started worker with this test's prefix and app id;
    two made in one test share them (a restart). Every worker is killed at teardown."""
    made: list[Worker] = []

    def make(bootstrap: str, **extra_env: str) -> Worker:
        env = worker_env(bootstrap, f"{unique_name}.", "w", tmp_path / "data")
        env.update(extra_env)
        worker = Worker(env, tmp_path / f"worker{len(made)}.log")
        made.append(worker)
        return worker

    yield make
    for worker in made:
        worker.close()
