"""The embedded stack for the demo: start the parts the run needs if they are not running, and stop
afterwards exactly the ones the demo started (a stack the user had up stays up).

Which parts: the chdb owner when ClickHouse is reached through it (backend ``chdb-http``), the
embedded redis-server when Redis is the embedded one (``CHIMERA_REDIS_URL`` at
``CHIMERA_REDIS_PORT`` on this host), Tansu only for ``--kafka`` and only when the bootstrap is
the embedded one (``CHIMERA_TANSU_PORT`` on this host). Settings that point elsewhere
(a server, a Cluster) are used as they are.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlparse

from chimera.settings import LOCAL_HOSTS, Settings
from chimera.stack import control, parts
from chimera.stack.parts import Part


def needed(settings: Settings, kafka: bool = False) -> list[Part]:
    out = []
    if kafka and settings.embedded_kafka:
        out.append(parts.tansu(settings))
    url = urlparse(settings.redis_url)
    if not settings.redis_cluster_nodes and url.hostname in LOCAL_HOSTS and url.port == settings.redis_port:
        out.append(parts.redis(settings))
    if settings.clickhouse_backend == "chdb-http":
        out.append(parts.chdb(settings))
    return out


@dataclass
class Stack:
    started: list[Part] = field(default_factory=list)
    running: list[Part] = field(default_factory=list)  # up before the demo

    def describe(self) -> str:
        bits = []
        if self.started:
            bits.append("started " + ", ".join(p.name for p in self.started))
        if self.running:
            bits.append("already running: " + ", ".join(p.name for p in self.running))
        return "; ".join(bits) or "no embedded part needed"

    def stop(self) -> dict[str, int | None]:
        """Stop what this demo started (nothing else)."""
        return control.down(self.started) if self.started else {}


def ensure(settings: Settings, kafka: bool = False, timeout_s: float = 60.0) -> Stack:
    """Bring the needed parts up; raises StackError naming the part that would not start."""
    wanted = needed(settings, kafka)
    stack = Stack()
    for run in control.up(wanted, timeout_s):
        (stack.running if run.was_running else stack.started).append(run.part)
    return stack
