"""Background processes with a pid file and a log file: spawn, find again, stop.

Beside the pid file (the pid only, so ``kill $(cat x.pid)`` works) a ``.start`` file holds the
process's start time where ``/proc`` exists: a pid the kernel has since given to an unrelated
process is then recognised as stale and never signalled.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


class StackError(Exception):
    """A part of the stack cannot be started, found or stopped; the message says which and why."""


@dataclass(frozen=True)
class Managed:
    name: str
    log: Path
    pidfile: Path

    @property
    def startfile(self) -> Path:
        return self.pidfile.with_suffix(".start")


def _proc_stat(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (state first), or None without /proc."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rfind(")") + 2 :].split()


def _start_time(pid: int) -> str:
    fields = _proc_stat(pid)
    return fields[19] if fields else ""


# children spawned by this process, kept so they are reaped by poll() and not reported at exit as leaks
_children: dict[int, subprocess.Popen[bytes]] = {}


def is_running(pid: int) -> bool:
    child = _children.get(pid)
    if child is not None:
        return child.poll() is None
    # any other exited child of ours stays a zombie (and answers kill 0) until reaped
    with contextlib.suppress(ChildProcessError):
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    fields = _proc_stat(pid)
    # an orphan that exited stays a zombie until pid 1 reaps it
    return not (fields and fields[0] == "Z")


def read_pid(proc: Managed) -> int | None:
    """The pid recorded for ``proc`` if that process still runs, else None."""
    try:
        pid = int(proc.pidfile.read_text())
    except (OSError, ValueError):
        return None
    if not is_running(pid):
        return None
    try:
        recorded = proc.startfile.read_text().strip()
    except OSError:
        recorded = ""
    if recorded and recorded != _start_time(pid):
        return None  # the pid was reused by another process
    return pid


def spawn(proc: Managed, argv: Sequence[str]) -> int:
    """Start ``proc`` detached (own session, so Ctrl-C in the shell does not reach it); record its pid."""
    proc.log.parent.mkdir(parents=True, exist_ok=True)
    proc.pidfile.parent.mkdir(parents=True, exist_ok=True)
    with proc.log.open("ab") as log:
        log.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(argv)}\n".encode())
        log.flush()
        try:
            child = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as exc:
            raise StackError(f"{proc.name}: cannot start {argv[0]}: {exc}") from exc
    _children[child.pid] = child
    proc.startfile.write_text(f"{_start_time(child.pid)}\n")
    tmp = proc.pidfile.with_suffix(".tmp")
    tmp.write_text(f"{child.pid}\n")
    tmp.replace(proc.pidfile)  # whole or absent, never a half-written pid
    return child.pid


def _signal(pid: int, sig: signal.Signals) -> None:
    # the pid leads its own process group (start_new_session): signal the group, so helpers it forked go too
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _wait_gone(pids: Sequence[int], deadline: float) -> list[int]:
    left = [p for p in pids if is_running(p)]
    while left and time.monotonic() < deadline:
        time.sleep(0.05)
        left = [p for p in left if is_running(p)]
    return left


def stop(procs: Sequence[Managed], grace_s: float = 10.0) -> dict[str, int | None]:
    """SIGTERM every running ``proc``, SIGKILL whatever outlives ``grace_s``; remove the pid files.

    Returns name -> pid that was stopped (None: was not running)."""
    found = {p.name: read_pid(p) for p in procs}
    pids = [pid for pid in found.values() if pid is not None]
    for pid in pids:
        _signal(pid, signal.SIGTERM)
    left = _wait_gone(pids, time.monotonic() + grace_s)
    for pid in left:
        _signal(pid, signal.SIGKILL)
    still = _wait_gone(left, time.monotonic() + 5.0)
    if still:
        raise StackError(f"pids {still} survived SIGKILL")
    for p in procs:
        p.pidfile.unlink(missing_ok=True)
        p.startfile.unlink(missing_ok=True)
    return found


def log_tail(log: Path, lines: int = 8) -> str:
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.rstrip().splitlines()[-lines:])
