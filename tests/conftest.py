"""Session-wide fixtures: endpoints of the real services started by ``infra/stack.sh up``.

A test that needs a service asks for its fixture; when the service is not reachable the fixture
*fails* with the command that starts it. Nothing here skips: in CI every service is running.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator

import pytest

KAFKA = os.environ.get("CHIMERA_TEST_KAFKA", "127.0.0.1:19092")
REDIS_URL = os.environ.get("CHIMERA_TEST_REDIS", "redis://127.0.0.1:16379/0")
REDIS_CLUSTER = os.environ.get(
    "CHIMERA_TEST_REDIS_CLUSTER", "127.0.0.1:17001,127.0.0.1:17002,127.0.0.1:17003"
)
CLICKHOUSE_URL = os.environ.get("CHIMERA_TEST_CLICKHOUSE", "clickhouse://default@127.0.0.1:19000/default")

pytest_plugins = ["redis_kit"]  # client / keyspace fixtures for the folders that talk to Redis

START_HINT = "start the test stack first: `bash infra/stack.sh up`"


def _reachable(hostport: str) -> bool:
    host, _, port = hostport.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=1.0):
            return True
    except OSError:
        return False


def _require(name: str, hostport: str) -> None:
    if not _reachable(hostport):
        pytest.fail(f"{name} is not reachable at {hostport}: {START_HINT}", pytrace=False)


def _hostport_of_url(url: str) -> str:
    rest = url.split("://", 1)[1].split("/", 1)[0]
    return rest.rsplit("@", 1)[-1]


@pytest.fixture(scope="session")
def kafka_bootstrap() -> str:
    """Bootstrap address of the real Apache Kafka broker."""
    _require("Apache Kafka", KAFKA.split(",")[0])
    return KAFKA


@pytest.fixture(scope="session")
def redis_url() -> str:
    _require("redis-server", _hostport_of_url(REDIS_URL))
    return REDIS_URL


@pytest.fixture(scope="session")
def redis_cluster_nodes() -> list[tuple[str, int]]:
    nodes = []
    for hp in REDIS_CLUSTER.split(","):
        _require("Redis Cluster node", hp)
        host, _, port = hp.rpartition(":")
        nodes.append((host, int(port)))
    return nodes


@pytest.fixture(scope="session")
def clickhouse_url() -> str:
    _require("clickhouse-server", _hostport_of_url(CLICKHOUSE_URL))
    return CLICKHOUSE_URL


@pytest.fixture
def unique_name(request: pytest.FixtureRequest) -> Iterator[str]:
    """A name unique to this test (topics, databases, key prefixes), safe for Kafka and ClickHouse."""
    import uuid

    base = "".join(c if c.isalnum() else "_" for c in request.node.name)[:40]
    yield f"t_{base}_{uuid.uuid4().hex[:8]}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def tansu_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Bootstrap address of ONE Tansu broker (memory storage) for the session, started and stopped by
    ``chimera/stack`` as ``chimera up`` does. Consumers on it want a small ``fetch.wait.max.ms``
    (5-10 ms): Tansu answers a fetch only when the wait expires (DESIGN §2). A consumer group's first
    join on Tansu waits about half the session timeout (measured: 10 s -> 5 s with aiokafka, 45 s
    -> 23 s with librdkafka), so group consumers in tests want a short session timeout too.

    ``CHIMERA_TANSU_PORT`` names it for the session, so a worker on it knows it is on the embedded
    broker (``Settings.embedded_kafka``) and takes Tansu's fetch wait, as under ``chimera up``."""
    from chimera.settings import Settings
    from chimera.stack import control, parts
    from chimera.stack.process import StackError

    settings = Settings(data_dir=tmp_path_factory.mktemp("tansu"), tansu_port=_free_port())
    tansu = parts.tansu(settings)
    failure = ""
    try:
        control.up([tansu], timeout_s=30)
    except StackError as exc:
        failure = str(exc)
    if failure:
        pytest.fail(f"the Tansu broker did not start: {failure}", pytrace=False)
    env = pytest.MonkeyPatch()
    env.setenv("CHIMERA_TANSU_PORT", str(settings.tansu_port))
    yield f"127.0.0.1:{settings.tansu_port}"
    env.undo()
    control.down([tansu])
