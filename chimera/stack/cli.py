"""``chimera up`` / ``status`` / ``down``: the embedded stack as background processes in the data dir."""

from __future__ import annotations

import time
from urllib.parse import urlparse

import click

from chimera.settings import Settings, get_settings
from chimera.stack import control
from chimera.stack.parts import all_parts
from chimera.stack.process import StackError


@click.command()
@click.option("--timeout", "timeout_s", default=60.0, show_default=True, help="seconds to wait for health")
def up(timeout_s: float) -> None:
    """Start Tansu, redis-server and the chdb owner in the background; wait until each answers."""
    settings = get_settings()
    began = time.monotonic()
    try:
        running = control.up(all_parts(settings), timeout_s)
    except StackError as exc:
        raise click.ClickException(f"{exc}\n(`chimera down` stops whatever did start)") from exc
    elapsed = time.monotonic() - began
    for run in running:
        part = run.part
        note = "already running" if run.was_running else "started"
        click.echo(f"{part.name:<6} {part.url:<28} pid {run.pid:<8} {note:<16} log {part.proc.log}")
    if all(run.was_running for run in running):
        click.echo(f"embedded stack already running (data dir {settings.data_dir.resolve()})")
    else:
        click.echo(f"embedded stack up in {elapsed:.2f} s (data dir {settings.data_dir.resolve()})")
    _note_client_settings(settings)


def _note_client_settings(settings: Settings) -> None:
    # the clients' addresses are settings of their own; a moved port does not move them
    tansu = f"127.0.0.1:{settings.tansu_port}"
    if settings.kafka_bootstrap != tansu:
        click.echo(f"note: CHIMERA_KAFKA_BOOTSTRAP={settings.kafka_bootstrap} is not this Tansu ({tansu})")
    redis = f"127.0.0.1:{settings.redis_port}"
    if not settings.redis_cluster_nodes and urlparse(settings.redis_url).netloc.rsplit("@", 1)[-1] != redis:
        click.echo(f"note: CHIMERA_REDIS_URL={settings.redis_url} is not this redis-server ({redis})")


@click.command()
def status() -> None:
    """Print whether each part is up; exit 1 if any is not."""
    states = control.status(all_parts(get_settings()))
    for st in states:
        pid = f"pid {st.pid}" if st.pid is not None else ""
        click.echo(
            f"{st.part.name:<6} {'up' if st.up else 'down':<5} {st.part.url:<28} {pid:<12} {st.note}".rstrip()
        )
    if not all(st.up for st in states):
        raise SystemExit(1)


@click.command()
@click.option(
    "--grace", "grace_s", default=10.0, show_default=True, help="seconds between SIGTERM and SIGKILL"
)
def down(grace_s: float) -> None:
    """Stop every part of the embedded stack; nothing is left running."""
    try:
        stopped = control.down(all_parts(get_settings()), grace_s)
    except StackError as exc:
        raise click.ClickException(str(exc)) from exc
    for name, pid in stopped.items():
        click.echo(f"{name:<6} {'stopped pid ' + str(pid) if pid is not None else 'was not running'}")
