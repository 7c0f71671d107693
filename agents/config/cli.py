"""``chimera config``: load a bundle file, activate a loaded bundle, show the active one.

Settings decide where: ClickHouse (``clickhouse_backend``), Redis (``redis_url`` /
``redis_cluster_nodes``, ``redis_key_prefix``) and Kafka (``kafka_bootstrap``, ``topic_prefix``).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from agents.config.bundle import BundleRefused
from agents.config.store import ConfigStore, UnknownBundle

DEFAULT_BUNDLE = Path(__file__).with_name("default_bundle.json")
T = TypeVar("T")


def _run(fn: Callable[[ConfigStore], Awaitable[T]]) -> T:
    """Open the store from settings, run ``fn`` on it, close everything."""
    from agents.config.kafka import KafkaEventSender
    from chimera.model import LiveClock
    from chimera.settings import get_settings
    from sinks.clickhouse.factory import open_backend
    from sinks.redis import Keyspace, make_client

    settings = get_settings()

    async def main() -> T:
        backend = open_backend(settings)
        client = make_client(settings, client_name="chimera-config")
        sender = KafkaEventSender(settings.kafka_bootstrap, settings.topic_prefix, settings.topic_replication)
        try:
            return await fn(
                ConfigStore(backend, client, Keyspace.from_settings(settings), sender, LiveClock())
            )
        finally:
            await client.aclose()
            backend.close()

    try:
        return asyncio.run(main())
    except BundleRefused as exc:
        for msg in exc.messages:
            click.echo(f"refused: {msg}", err=True)
        raise click.exceptions.Exit(2) from None
    except UnknownBundle as exc:
        raise click.ClickException(str(exc)) from None


@click.group()
def config() -> None:
    """Config bundles (S10): load, activate, show."""


@config.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--author", default="cli", show_default=True)
@click.option("--activate", "then_activate", is_flag=True, help="activate it once loaded")
def load(file: Path, author: str, then_activate: bool) -> None:
    """Validate FILE and store it in config_bundles (a refused bundle is recorded, and named)."""
    text = file.read_text(encoding="utf-8")

    async def go(store: ConfigStore) -> str:
        loaded = await store.load(text, author)
        word = "loaded" if loaded.new else "already loaded"
        line = f"{word} {loaded.bundle.bundle_id} rev {loaded.bundle.rev}"
        if then_activate:
            await store.activate(loaded.bundle.bundle_id, loaded.bundle.rev, author)
            line += " (active)"
        return line

    click.echo(_run(go))


@config.command()
@click.argument("bundle_id")
@click.option("--rev", default=None, help="a given rev (default: the newest loaded under BUNDLE_ID)")
@click.option("--actor", default="cli", show_default=True)
def activate(bundle_id: str, rev: str | None, actor: str) -> None:
    """Make a loaded bundle active: config_active, cfg:{active}, then cfg.events."""

    async def go(store: ConfigStore) -> str:
        ev = await store.activate(bundle_id, rev, actor)
        return f"active {ev.bundle_id} rev {ev.rev} (was {ev.previous_rev or 'none'})"

    click.echo(_run(go))


@config.command()
@click.option("--json", "as_json", is_flag=True, help="the active bundle's id, rev and content as JSON")
def show(as_json: bool) -> None:
    """The active bundle (GET /active) and what it holds."""

    async def go(store: ConfigStore) -> dict[str, Any] | None:
        ref = await store.active()
        if ref is None:
            return None
        bundle = await store.fetch(ref.bundle_id, ref.rev)
        return {"bundle_id": ref.bundle_id, "rev": ref.rev, "bundle": json.loads(bundle.document())}

    doc = _run(go)
    if doc is None:
        raise click.ClickException("no bundle is active (chimera config load FILE --activate)")
    if as_json:
        click.echo(json.dumps(doc, sort_keys=True))
        return
    strategy = doc["bundle"]["strategy"]
    click.echo(f"active {doc['bundle_id']} rev {doc['rev']}")
    click.echo(f"  instruments: {', '.join(sorted(strategy['instruments']))}")
    click.echo(f"  rules: {', '.join(r['name'] for r in strategy['rules']) or '(none)'}")
    click.echo(
        f"  margin {strategy['margin_per_position_usdt']} x{strategy['leverage']} per entry, "
        f"budget {strategy['margin_budget_usdt']} USDT"
    )
