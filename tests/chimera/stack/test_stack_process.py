"""Pid files, stopping and start-up failures, on small stand-in processes (no real services)."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest
from stack_kit import free_port, pid_gone

from chimera.stack import control, health
from chimera.stack.parts import Part
from chimera.stack.process import Managed, StackError, read_pid, spawn, stop


def managed(tmp_path: Path, name: str = "probe") -> Managed:
    return Managed(name, log=tmp_path / "logs" / f"{name}.log", pidfile=tmp_path / "run" / f"{name}.pid")


def python(code: str) -> tuple[str, ...]:
    return (sys.executable, "-c", code)


def wait_for_log(proc: Managed, text: str, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while text not in proc.log.read_text():
        assert time.monotonic() < deadline, f"{text!r} never appeared in {proc.log}"
        time.sleep(0.02)


def test_stop_escalates_to_sigkill_for_a_process_that_ignores_sigterm(tmp_path: Path) -> None:
    proc = managed(tmp_path)
    code = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN);"
        " print('armed', flush=True); time.sleep(60)"
    )
    pid = spawn(proc, python(code))
    wait_for_log(proc, "armed")
    assert stop([proc], grace_s=0.3) == {"probe": pid}
    assert pid_gone(pid) and not proc.pidfile.exists()


def test_stop_takes_the_helpers_a_part_forked_with_it(tmp_path: Path) -> None:
    proc = managed(tmp_path)
    code = (
        "import subprocess, sys, time;"
        " c = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']);"
        " print('helper', c.pid, flush=True); time.sleep(60)"
    )
    spawn(proc, python(code))
    wait_for_log(proc, "\nhelper ")
    helper = int(proc.log.read_text().rsplit("\nhelper ", 1)[1].split()[0])
    stop([proc], grace_s=5)
    assert pid_gone(helper, within_s=10)


def test_a_stale_pid_file_is_recognised_and_removed(tmp_path: Path) -> None:
    proc = managed(tmp_path)
    pid = spawn(proc, python("pass"))
    deadline = time.monotonic() + 10
    while read_pid(proc) is not None:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert proc.pidfile.exists()
    assert stop([proc]) == {"probe": None}
    assert not proc.pidfile.exists() and pid_gone(pid)


def test_a_reused_pid_is_never_signalled(tmp_path: Path) -> None:
    proc = managed(tmp_path)
    proc.pidfile.parent.mkdir(parents=True)
    proc.pidfile.write_text(f"{os.getpid()}\n")
    proc.startfile.write_text("1\n")  # our pid, someone else's start time
    assert read_pid(proc) is None
    assert stop([proc]) == {"probe": None}  # and this test is still alive to say so


def fake_part(tmp_path: Path, argv: tuple[str, ...], healthy: bool = False) -> Part:
    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    return Part(managed(tmp_path), port, "CHIMERA_PROBE_PORT", url, lambda: argv, lambda: healthy)


def test_up_names_the_part_and_its_log_when_it_never_answers(tmp_path: Path) -> None:
    part = fake_part(tmp_path, python("print('still warming up', flush=True); import time; time.sleep(60)"))
    with pytest.raises(StackError) as err:
        control.up([part], timeout_s=0.5)
    msg = str(err.value)
    assert "probe did not answer" in msg and str(part.proc.log) in msg and "still warming up" in msg
    assert not part.proc.pidfile.exists()  # the unhealthy process was stopped


def test_up_names_the_part_and_its_log_when_it_exits(tmp_path: Path) -> None:
    part = fake_part(tmp_path, python("import sys; sys.exit('bind: address in use')"))
    with pytest.raises(StackError, match=r"(?s)probe exited while starting.*bind: address in use"):
        control.up([part], timeout_s=10)


def test_health_checks_say_no_when_nothing_listens() -> None:
    port = free_port()
    assert not health.kafka_ok(f"127.0.0.1:{port}")
    assert not health.redis_ok(port)
    assert not health.http_ping_ok(f"http://127.0.0.1:{port}/ping")
