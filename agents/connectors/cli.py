"""``chimera replay`` and ``chimera record``: recorded market data in and out of Kafka."""

from __future__ import annotations

import json
from pathlib import Path

import click

from chimera.settings import get_settings


@click.command()
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option(
    "--speed",
    type=float,
    default=0.0,
    show_default=True,
    help="0 = as fast as possible; x = x times real time",
)
@click.option(
    "--prefix", default=None, help="topic prefix, e.g. bt.run1. (default: settings, else a new bt.<run_id>.)"
)
@click.option("--bootstrap", default=None, help="Kafka bootstrap servers (default: settings)")
@click.option(
    "--window-ms",
    type=int,
    default=None,
    help="batch window in event-time ms (default: settings.mkt_replay_window_ms)",
)
@click.option(
    "--max-ticks", type=int, default=None, help="ticks per batch at most (default: mkt_replay_max_ticks)"
)
@click.option("--json", "as_json", is_flag=True, help="print the summary as one JSON line")
@click.option("--no-progress", is_flag=True, help="hide the progress bar")
def replay(
    files: tuple[Path, ...],
    speed: float,
    prefix: str | None,
    bootstrap: str | None,
    window_ms: int | None,
    max_ticks: int | None,
    as_json: bool,
    no_progress: bool,
) -> None:
    """Publish recorded market data FILES as per-symbol tick batches (mkt.spot / mkt.perp / mkt.funding).

    Malformed records are reported with file:line and sent to dlq.<topic>; the replay goes on.
    """
    from agents.connectors.marketdata import MicroBatcher
    from agents.connectors.recordings import select_files
    from agents.connectors.replay import new_prefix, run_replay

    settings = get_settings()
    try:
        chosen, notes = select_files(files)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="FILES") from exc
    for note in notes:
        click.echo(note, err=True)
    prefix = prefix if prefix is not None else (settings.topic_prefix or new_prefix())
    batcher = MicroBatcher(
        window_ms if window_ms is not None else settings.mkt_replay_window_ms,
        max_ticks or settings.mkt_replay_max_ticks,
        settings.mkt_book_levels,
    )
    try:
        stats = run_replay(
            chosen,
            bootstrap or settings.kafka_bootstrap,
            prefix,
            batcher,
            partitions=settings.topic_partitions,
            replication=settings.topic_replication,
            speed=speed,
            progress=not no_progress,
        )
    except (ValueError, RuntimeError) as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        rate = stats.ticks / stats.seconds if stats.seconds else 0.0
        fields = {"prefix": prefix, "ticks": stats.ticks, "batches": stats.batches, "funding": stats.funding}
        click.echo(json.dumps({**fields, "dlq": stats.dlq, "seconds": stats.seconds, "ticks_per_s": rate}))
    else:
        click.echo(f"replayed into {prefix}*: {stats.summary()}")


@click.command()
@click.option("--topics", "topic_list", default="mkt.spot,mkt.perp,mkt.funding", show_default=True)
@click.option(
    "--out", type=click.Path(dir_okay=False, path_type=Path), required=True, help=".jsonl or .jsonl.gz"
)
@click.option("--prefix", default=None, help="topic prefix to read from (default: settings)")
@click.option("--bootstrap", default=None, help="Kafka bootstrap servers (default: settings)")
def record(topic_list: str, out: Path, prefix: str | None, bootstrap: str | None) -> None:
    """Capture what the market topics hold now into a file that `chimera replay` reads back."""
    from agents.connectors.record import capture

    settings = get_settings()
    if not out.name.endswith((".jsonl", ".jsonl.gz")):
        raise click.BadParameter("the output file must end in .jsonl or .jsonl.gz", param_hint="--out")
    topics = [t.strip() for t in topic_list.split(",") if t.strip()]
    try:
        count = capture(bootstrap or settings.kafka_bootstrap, topics, prefix or settings.topic_prefix, out)
    except (ValueError, RuntimeError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"recorded {count} messages to {out}")
