"""Bring parts up, report on them, bring them down. The CLI and the test fixtures both use this."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from chimera.stack import health
from chimera.stack.parts import Part
from chimera.stack.process import StackError, is_running, log_tail, read_pid, spawn, stop


@dataclass(frozen=True)
class Running:
    part: Part
    pid: int
    was_running: bool


@dataclass(frozen=True)
class State:
    part: Part
    pid: int | None
    healthy: bool
    note: str = ""

    @property
    def up(self) -> bool:
        return self.pid is not None and self.healthy


def _why(part: Part, what: str) -> StackError:
    return StackError(f"{part.name} {what}; its log {part.proc.log} ends:\n{log_tail(part.proc.log)}")


def up(parts: Sequence[Part], timeout_s: float = 60.0) -> list[Running]:
    """Start every part not yet running, then wait until all answer their health check.

    Nothing is started unless every missing part can be (binary found, port free). A part that
    exits or stays unhealthy past ``timeout_s`` is stopped and named in the StackError."""
    plan: list[tuple[Part, int | None, tuple[str, ...]]] = []
    for part in parts:
        pid = read_pid(part.proc)
        argv: tuple[str, ...] = ()
        if pid is None:
            if health.port_open(part.port):
                raise StackError(
                    f"{part.name}: port {part.port} is taken by a process this data dir did not start; "
                    f"stop it or choose another port with {part.port_env}"
                )
            argv = part.command()
        plan.append((part, pid, argv))

    running = [
        Running(part, pid, True) if pid is not None else Running(part, spawn(part.proc, argv), False)
        for part, pid, argv in plan
    ]
    deadline = time.monotonic() + timeout_s
    pending = list(running)
    while pending:
        for run in list(pending):
            if run.part.healthy():
                pending.remove(run)
            elif not is_running(run.pid):
                _give_up(run)
                raise _why(run.part, "exited while starting")
        if pending and time.monotonic() > deadline:
            for run in pending:
                _give_up(run)
            raise StackError(
                "\n".join(
                    str(_why(r.part, f"did not answer at {r.part.url} within {timeout_s:g} s"))
                    for r in pending
                )
            )
        if pending:
            time.sleep(0.05)
    return running


def _give_up(run: Running) -> None:
    # a part someone else started (a concurrent `up`) is theirs to stop
    if not run.was_running:
        stop([run.part.proc])


def status(parts: Sequence[Part]) -> list[State]:
    states = []
    for part in parts:
        pid = read_pid(part.proc)
        if pid is not None:
            ok = part.healthy()
            states.append(State(part, pid, ok, "" if ok else f"running but not answering at {part.url}"))
        elif health.port_open(part.port):
            states.append(State(part, None, False, f"port {part.port} is used by a process we did not start"))
        else:
            states.append(State(part, None, False))
    return states


def down(parts: Sequence[Part], grace_s: float = 10.0) -> dict[str, int | None]:
    """Stop every part (SIGTERM, SIGKILL after ``grace_s``); name -> pid stopped, None if not running."""
    return stop([part.proc for part in parts], grace_s)
