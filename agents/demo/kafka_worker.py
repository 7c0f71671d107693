"""The ``chimera worker`` a Kafka demo run drives: one process running S2, S3, S4 and S6 under the
run's topic prefix, Redis key prefix and ClickHouse database, and the replay barrier it answers
(``GET /router/progress/``, :class:`agents.router.agent.Progress`).

The worker is a subprocess, as a deployment runs it (the demo's own process stays the publisher,
S1's part): its settings are the demo's, written out as ``CHIMERA_*`` variables, with the run's
names over them.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chimera.settings import Settings

SERVICES = ("features", "strategy", "router", "positions")
READY_LINE = b"[^Worker]: Ready"
CHIMERA = str(Path(sys.executable).with_name("chimera"))
POLL_S = 0.005
SECRETS = ("binance_api_key", "binance_api_secret")  # the paper venue needs none: not handed on


class WorkerFailed(RuntimeError):
    """The worker exited, never got ready, or stopped answering; the message carries its log tail."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def settings_env(settings: Settings) -> dict[str, str]:
    """``settings`` as the ``CHIMERA_*`` variables that rebuild it in another process."""
    out: dict[str, str] = {}
    for name, value in settings.model_dump().items():
        if name in SECRETS or value is None:
            continue
        if isinstance(value, tuple | list):
            text = json.dumps(list(value))
        elif isinstance(value, bool):
            text = "true" if value else "false"
        else:
            text = str(value)
        out[f"CHIMERA_{name.upper()}"] = text
    return out


def run_settings(settings: Settings, prefix: str, database: str, app_id: str) -> Settings:
    """The worker's settings: the demo's, on the run's topic set, keyspace and database."""
    return settings.model_copy(
        update={
            "topic_prefix": prefix,
            "redis_key_prefix": prefix,
            "clickhouse_database": database,
            "worker_id": app_id,
            "services": SERVICES,
            "worker_web_port": free_port(),
        }
    )


@dataclass
class Progress:
    done: dict[str, int]  # "physical topic:partition" -> last offset every agent finished
    quiet: bool  # nothing in flight, everything produced to a consumed topic finished


class WorkerProcess:
    def __init__(self, settings: Settings, log: Path) -> None:
        self.settings = settings
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def web(self) -> str:
        return f"http://127.0.0.1:{self.settings.worker_web_port}"

    def start(self, timeout_s: float = 180.0) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **settings_env(self.settings)}
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [CHIMERA, "worker", "--services", ",".join(SERVICES), "--loglevel", "info"],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C of the demo reaches the worker through stop()
            )
        deadline = time.monotonic() + timeout_s
        while READY_LINE not in self.log.read_bytes():
            self.check_alive()
            if time.monotonic() > deadline:
                raise WorkerFailed(f"the worker was not ready in {timeout_s:.0f} s\n{self.log_tail()}")
            time.sleep(0.1)

    def check_alive(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            code = None if self.proc is None else self.proc.returncode
            raise WorkerFailed(f"the worker exited (code {code})\n{self.log_tail()}")

    def get_json(self, path: str) -> Any:
        try:
            with urllib.request.urlopen(f"{self.web}{path}", timeout=5) as resp:
                return json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            raise

    def progress(self) -> Progress | None:
        try:
            doc = self.get_json("/router/progress/")
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return None
        if doc is None:
            return None
        return Progress({k: int(v) for k, v in doc["done"].items()}, bool(doc["quiet"]))

    def wait_done(self, topic: str, partition: int, offset: int, timeout_s: float) -> float:
        """Wait until the worker has finished ``topic[partition]@offset`` and everything it produced
        since; return the seconds waited."""
        began = time.monotonic()
        key = f"{topic}:{partition}"
        while True:
            p = self.progress()
            if p is not None and p.quiet and p.done.get(key, -1) >= offset:
                return time.monotonic() - began
            self.check_alive()
            if time.monotonic() - began > timeout_s:
                raise WorkerFailed(
                    f"the worker did not finish {key}@{offset} in {timeout_s:.0f} s (progress {p})\n"
                    f"{self.log_tail()}"
                )
            time.sleep(POLL_S)

    def desk(self, partition: int) -> dict[str, Any] | None:
        got = self.get_json(f"/router/desk/{partition}/")
        return None if got is None else dict(got)

    def stop(self, timeout_s: float = 60.0) -> int | None:
        """SIGTERM (the agents flush their rows on the way out); SIGKILL if it does not go."""
        if self.proc is None:
            return None
        proc, self.proc = self.proc, None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        return proc.returncode

    def log_text(self) -> str:
        return self.log.read_bytes().decode(errors="replace") if self.log.exists() else ""

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def crashes(self) -> list[str]:
        """Agents that raised (Faust restarts them, acking the record they failed on)."""
        return [line for line in self.log_text().splitlines() if "Crashed reason=" in line]

    def refused_rows(self) -> list[str]:
        """Rows a ClickHouse table refused (the agents log them: a writer's bug, never dropped quietly)."""
        return [line for line in self.log_text().splitlines() if " row refused" in line]
