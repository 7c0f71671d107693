"""CPU seconds of another process over a span of wall time, read from ``/proc``.

On a shared 2-core machine a wall-clock rate moves by a third from one round to the next. CPU time
leaves out the waits (a paused worker, a slow broker) but not the VM's steal or cache contention:
the bare consumer of bench/features_pipeline.py spent 1.6 to 2.9 ms per identical batch across
rounds. So benchmarks report both, and neither alone. :class:`CpuClock` samples a live process
every ``every_s`` in a thread, and :meth:`CpuClock.between` interpolates its CPU at two wall times
(e.g. the CreateTimes of a worker's first and last output), so start-up and shut-down are left out.
"""

from __future__ import annotations

import bisect
import os
import threading
import time
from pathlib import Path

TICK_S = 1.0 / os.sysconf("SC_CLK_TCK")  # /proc counts CPU in clock ticks (10 ms here)


def cpu_of(pid: int) -> float | None:
    """CPU seconds (user + system, every thread) a live process has used so far; None once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) * TICK_S


class CpuClock:
    """``(wall time, CPU seconds)`` samples of process ``pid``, taken until :meth:`stop`."""

    def __init__(self, pid: int, every_s: float = 0.02) -> None:
        self.pid, self.every_s = pid, every_s
        self.walls: list[float] = []
        self.cpus: list[float] = []
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"cpu-clock-{pid}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._done.is_set():
            cpu = cpu_of(self.pid)
            if cpu is None:
                return
            self.walls.append(time.time())
            self.cpus.append(cpu)
            self._done.wait(self.every_s)

    def stop(self) -> None:
        self._done.set()
        self._thread.join()

    def at(self, wall: float) -> float:
        """CPU seconds at wall time ``wall``, interpolated between the samples around it."""
        if len(self.walls) < 2 or not self.walls[0] <= wall <= self.walls[-1]:
            raise ValueError(f"wall time {wall:.3f} is outside the samples of process {self.pid}")
        i = max(1, bisect.bisect_left(self.walls, wall))
        w0, w1, c0, c1 = self.walls[i - 1], self.walls[i], self.cpus[i - 1], self.cpus[i]
        return c0 + (c1 - c0) * (wall - w0) / max(w1 - w0, 1e-9)

    def between(self, start: float, end: float) -> float:
        """CPU seconds the process spent from wall time ``start`` to ``end``."""
        return self.at(end) - self.at(start)
