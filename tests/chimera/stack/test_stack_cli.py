"""``chimera up`` / ``status`` / ``down`` as a user runs them: the real console script, a fresh data
dir, free ports. Checks that each part does its job, not just that a port is open."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
from click.testing import CliRunner
from stack_kit import free_port, kafka_roundtrip, pid_gone

from chimera.settings import get_settings
from chimera.stack import health
from chimera.stack.cli import down, status
from sinks.clickhouse.http_backend import ChdbHttpBackend

CHIMERA = Path(sys.executable).with_name("chimera")
PARTS = ("tansu", "redis", "chdb")


@dataclass(frozen=True)
class Stack:
    env: dict[str, str]
    data_dir: Path
    ports: dict[str, int]

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(CHIMERA), *args], env=self.env, capture_output=True, text=True, timeout=120
        )

    def pids(self) -> dict[str, int]:
        return {p: int((self.data_dir / "run" / f"{p}.pid").read_text()) for p in PARTS}


def make_stack(data_dir: Path) -> Stack:
    ports = {p: free_port() for p in PARTS}
    env = {
        **os.environ,
        "CHIMERA_DATA_DIR": str(data_dir),
        "CHIMERA_TANSU_PORT": str(ports["tansu"]),
        "CHIMERA_REDIS_PORT": str(ports["redis"]),
        "CHIMERA_CHDB_HTTP_PORT": str(ports["chdb"]),
        "CHIMERA_KAFKA_BOOTSTRAP": f"127.0.0.1:{ports['tansu']}",
        "CHIMERA_REDIS_URL": f"redis://127.0.0.1:{ports['redis']}/0",
    }
    return Stack(env, data_dir, ports)


def timed_up(stack: Stack) -> subprocess.CompletedProcess[str]:
    began = time.monotonic()
    out = stack.run("up")
    took = time.monotonic() - began
    print(f"\n`chimera up` took {took:.2f} s (wall, incl. CLI start); it said:\n{out.stdout}")
    assert out.returncode == 0, out.stderr
    return out


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One embedded stack, up, for the read-only checks of this module."""
    st = make_stack(tmp_path_factory.mktemp("stack") / "data")
    timed_up(st)
    yield st
    st.run("down")


@pytest.mark.tansu
def test_up_starts_a_working_tansu(stack: Stack) -> None:
    bootstrap = f"127.0.0.1:{stack.ports['tansu']}"
    assert len(kafka_roundtrip(bootstrap)) == 32


def test_up_starts_a_working_redis(stack: Stack) -> None:
    client = redis.Redis(port=stack.ports["redis"])
    try:
        client.set("chimera:stack:probe", "42")
        assert client.get("chimera:stack:probe") == b"42"
    finally:
        client.close()
    assert (stack.data_dir / "redis").is_dir()


def test_up_starts_the_chdb_owner_with_the_schema_migrated(stack: Stack) -> None:
    owner = ChdbHttpBackend(f"http://127.0.0.1:{stack.ports['chdb']}", "chimera")
    assert owner.query("SELECT count() FROM chimera.fills").rows == [(0,)]
    assert (stack.data_dir / "chdb" / "data" / "chimera").is_dir()  # the store is in the data dir


def test_status_reports_every_part_up(stack: Stack) -> None:
    out = stack.run("status")
    assert out.returncode == 0, out.stdout + out.stderr
    for part, pid in stack.pids().items():
        assert re.search(rf"^{part}\s+up\s+.*pid {pid}\b", out.stdout, re.M), out.stdout


def test_up_again_is_idempotent(stack: Stack) -> None:
    before = stack.pids()
    out = stack.run("up")
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("already running") == 4, out.stdout  # three parts and the summary
    assert stack.pids() == before


def test_down_stops_everything_and_leaves_nothing(tmp_path: Path) -> None:
    st = make_stack(tmp_path / "data")
    timed_up(st)
    pids = st.pids()
    assert all(not pid_gone(pid) for pid in pids.values())

    out = st.run("down")
    assert out.returncode == 0, out.stderr
    for part, pid in pids.items():
        assert f"stopped pid {pid}" in out.stdout
        assert pid_gone(pid, within_s=10), f"{part} pid {pid} still exists 10 s after `chimera down`"
    assert not any(health.port_open(port) for port in st.ports.values())
    assert list((st.data_dir / "run").iterdir()) == []

    after = st.run("status")
    assert after.returncode != 0
    assert all(re.search(rf"^{p}\s+down\b", after.stdout, re.M) for p in PARTS), after.stdout


def test_down_and_status_with_nothing_running(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    st = make_stack(tmp_path / "never")
    for key in ("CHIMERA_DATA_DIR", "CHIMERA_TANSU_PORT", "CHIMERA_REDIS_PORT", "CHIMERA_CHDB_HTTP_PORT"):
        monkeypatch.setenv(key, st.env[key])
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        result = runner.invoke(down)
        assert result.exit_code == 0, result.output
        assert result.output.count("was not running") == 3
        assert runner.invoke(status).exit_code == 1
    finally:
        get_settings.cache_clear()


def test_up_refuses_a_port_it_does_not_own(tmp_path: Path) -> None:
    st = make_stack(tmp_path / "data")
    with socket.socket() as foreign:
        foreign.bind(("127.0.0.1", st.ports["redis"]))
        foreign.listen()
        out = st.run("up")
    assert out.returncode == 1
    assert "redis" in out.stderr and "CHIMERA_REDIS_PORT" in out.stderr, out.stderr
    # nothing was started, so nothing is left to stop
    assert not (st.data_dir / "run").exists() or list((st.data_dir / "run").iterdir()) == []
    assert not health.port_open(st.ports["tansu"])
