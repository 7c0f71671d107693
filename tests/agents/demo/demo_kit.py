"""Test kit for ``chimera demo``: a slice of the BTC month written as a file of the same format, an
environment with its own data dir and free ports (so the demo runs its own embedded stack), and
the command run as a user runs it."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chimera.settings import Settings

REPO = Path(__file__).resolve().parents[3]
BTC_CSV = REPO / "data/nautilus/btc-perp-20211231-20220201_1m.csv"
CHIMERA = str(Path(sys.executable).with_name("chimera"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def btc_slice(tmp: Path, bars: int) -> Path:
    """The first ``bars`` one-minute bars, named as the loader reads them (symbol, ``_1m``)."""
    lines = BTC_CSV.read_text().splitlines(keepends=True)
    path = tmp / "btc-perp-20211231-slice_1m.csv"
    path.write_text("".join(lines[: bars + 1]))
    return path


def demo_env(data_dir: Path) -> dict[str, str]:
    """A clean environment: no CHIMERA_* of the caller, a data dir and ports of its own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHIMERA_")}
    tansu, redis, chdb = free_port(), free_port(), free_port()
    env.update(
        CHIMERA_DATA_DIR=str(data_dir),
        CHIMERA_TANSU_PORT=str(tansu),
        CHIMERA_REDIS_PORT=str(redis),
        CHIMERA_CHDB_HTTP_PORT=str(chdb),
        CHIMERA_KAFKA_BOOTSTRAP=f"127.0.0.1:{tansu}",
        CHIMERA_REDIS_URL=f"redis://127.0.0.1:{redis}/0",
    )
    return env


def settings_of(env: dict[str, str]) -> Settings:
    return Settings(
        data_dir=Path(env["CHIMERA_DATA_DIR"]),
        tansu_port=int(env["CHIMERA_TANSU_PORT"]),
        redis_port=int(env["CHIMERA_REDIS_PORT"]),
        chdb_http_port=int(env["CHIMERA_CHDB_HTTP_PORT"]),
        kafka_bootstrap=env["CHIMERA_KAFKA_BOOTSTRAP"],
        redis_url=env["CHIMERA_REDIS_URL"],
    )


@dataclass
class Ran:
    rc: int
    out: str
    err: str

    @property
    def summary(self) -> dict[str, Any]:
        doc: dict[str, Any] = json.loads(self.out.strip().splitlines()[-1])
        return doc


def demo(env: dict[str, str], *args: str, timeout: float = 300) -> Ran:
    p = subprocess.run(
        [CHIMERA, "demo", *args], env=env, capture_output=True, text=True, timeout=timeout, cwd=REPO
    )
    return Ran(p.returncode, p.stdout, p.stderr)
