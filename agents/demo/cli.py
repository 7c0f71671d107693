"""``chimera demo [FILE…]``: a replay of real recorded data through S1 → S2 → S3 → S4 → S6 on
SimVenue, on the embedded stack, recorded in ClickHouse, summarised from that record.

With no FILE it replays what ships in ``data/``: the BTC perpetual month (1-minute bars) and the
XRP perpetual week with its funding and marks, traded on both perpetuals (the bundle and regime it
picks when not told are ``agents.demo.defaults``'s: here the two-perpetual bundle on 5-minute bars,
the regime pinned NORMAL because the two recordings are six weeks apart). ``--bundle`` and
``--regime`` choose instead.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from decimal import Decimal, InvalidOperation
from pathlib import Path

import click

from agents.config.bundle import Bundle, BundleRefused, parse_bundle
from agents.connectors.recordings import Record, load_files, select_files
from agents.demo import defaults, inprocess
from agents.demo import kafka as kafka_path
from agents.demo.runner import RunContext, Runner, RunOutcome
from agents.demo.stack import Stack, ensure
from agents.demo.summary import Summary, read, render
from agents.engine.config import new_run_id
from chimera.settings import Settings, get_settings
from chimera.stack.process import StackError
from sinks.clickhouse.backend import ClickHouseError
from sinks.clickhouse.factory import open_backend
from sinks.clickhouse.migrate import migrate

REPO = defaults.REPO
DEFAULT_BUNDLE = defaults.DEFAULT_BUNDLE
SHIPPED = [
    "data/nautilus/btc-perp-20211231-20220201_1m.csv",
    "data/freqtrade/XRP_USDT_USDT-5m-futures.feather",
    "data/freqtrade/XRP_USDT_USDT-8h-funding_rate.feather",
    "data/freqtrade/XRP_USDT_USDT-8h-mark.feather",
]


def say(msg: str) -> None:
    click.echo(f"chimera demo: {msg}", err=True)


def shipped_files() -> list[Path]:
    paths = [REPO / p for p in SHIPPED]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise click.ClickException(f"shipped data not found ({', '.join(missing)}); pass the files to replay")
    return paths


def load_bundle(path: Path) -> Bundle:
    try:
        return parse_bundle(path.read_text())
    except BundleRefused as exc:
        raise click.ClickException(f"{path}: {exc}") from exc


def load(paths: list[Path], progress: bool) -> list[Record]:
    try:
        chosen, notes = select_files(paths)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    for note in notes:
        say(note)
    from tqdm import tqdm

    bar = tqdm(
        load_files(chosen),
        desc="loading",
        unit=" rec",
        file=sys.stderr,
        disable=not progress,
        mininterval=0.5,
    )
    return list(bar)


def run_records(
    records: list[Record], bundle: Bundle, ctx: RunContext, runner: Runner, progress: bool
) -> RunOutcome:
    from tqdm import tqdm

    with tqdm(
        total=len(records), desc="replay", unit=" ev", file=sys.stderr, disable=not progress, mininterval=0.5
    ) as bar:
        ctx = RunContext(**{**ctx.__dict__, "progress": bar.update})
        return asyncio.run(_run(runner, records, bundle, ctx))


async def _run(runner: Runner, records: list[Record], bundle: Bundle, ctx: RunContext) -> RunOutcome:
    return await runner(records, bundle, ctx)


def finish_stack(stack: Stack, keep: bool, settings: Settings) -> None:
    if not stack.started:
        return
    names = ", ".join(p.name for p in stack.started)
    if keep:
        say(f"the embedded stack stays up ({names}); `chimera down` stops it")
        return
    stack.stop()
    say(
        f"stopped what the demo started ({names}); the record stays in {settings.chdb_dir.resolve()} "
        "(`chimera up` to query it again)"
    )


HELP = f"""Replay recorded market data through S1 → S2 → S3 → S4 → S6 on SimVenue, record the run in
ClickHouse and print its summary: trades, win rate, PnL net of fees and funding, max drawdown,
orders by type, average slippage, each checked against SQL over the record.

With no FILE: the shipped BTC perpetual month (1-minute bars, 2021-12-31 .. 2022-02-01) and XRP
perpetual week (5-minute bars, 2021-11-15 .. 21) with its 8-hourly funding rates and marks,
traded on BOTH perpetuals with {defaults.BTC_XRP_BUNDLE.relative_to(REPO)}
(S2 decides both on 5-minute bars: one bar length per bundle); funding is settled on open XRP
positions every 8 h and is part of the PnL. A symbol's positions are closed at market where its
own price data ends (END_OF_DATA; XRP's marks and rates run on weeks past its last candle and are
not replayed), the rest at the end of the run (END_OF_RUN).

Bundle, when --bundle is not given: {DEFAULT_BUNDLE.relative_to(REPO)} (BTCUSDT,
1-minute bars) if it lists every symbol in the data, else the two-perpetual bundle.

Regime, when --regime is not given: S2's daily job over the bundle's first symbol's closes; if
that symbol has no data on a day another traded symbol has (the XRP week lies six weeks before
the BTC month), {defaults.PINNED} is pinned instead and the summary says why.
"""


@click.command(help=HELP)
@click.argument("files", nargs=-1, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--bundle", "bundle_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="config bundle JSON (default: by the data's symbols)")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="print the summary as one JSON line")
@click.option(
    "--kafka",
    is_flag=True,
    help="run through Faust workers over Kafka instead (paced replay; Tansu unless settings name a broker)",
)
@click.option("--regime", type=click.Choice(["FROZEN", "NORMAL", "EXTREME", defaults.DAILY]), default=None,
              help=f"pin the regime, or {defaults.DAILY}: S2's daily job (default: see above)")  # fmt: skip
@click.option("--database", default=None, help="ClickHouse database of the run (default bt_<run_id>)")
@click.option("--initial-usdt", default="10000", show_default=True, help="starting futures wallet")
@click.option("--keep-stack", is_flag=True, help="leave embedded parts the demo started running")
@click.option("--no-progress", is_flag=True, help="no progress bars on stderr")
def demo(
    files: tuple[Path, ...],
    bundle_path: Path | None,
    as_json: bool,
    kafka: bool,
    regime: str | None,
    database: str | None,
    initial_usdt: str,
    keep_stack: bool,
    no_progress: bool,
) -> None:
    settings = get_settings()
    try:
        initial = Decimal(initial_usdt)
    except InvalidOperation:
        raise click.BadParameter(f"not a number: {initial_usdt!r}", param_hint="--initial-usdt") from None
    if kafka and not kafka_path.READY:
        raise click.ClickException(kafka_path.NOT_READY)
    paths = list(files) or shipped_files()
    given = load_bundle(bundle_path) if bundle_path else None
    progress = not no_progress
    began = time.perf_counter()
    try:
        records = load(paths, progress)  # before the stack: the default bundle follows the data
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    load_s = time.perf_counter() - began
    choice = defaults.choose(records, given, regime)
    bundle = choice.bundle
    for note in choice.notes:
        say(note)
    run_id = new_run_id()
    db_name = database or f"bt_{run_id}"
    try:
        stack = ensure(settings, kafka=kafka)
    except StackError as exc:
        raise click.ClickException(f"the embedded stack did not start: {exc}") from exc
    if stack.started:
        say(f"embedded stack was not running: {stack.describe()} (data dir {settings.data_dir.resolve()})")
    try:
        backend = open_backend(settings, database=db_name)
        try:
            migrate(backend)
            ctx = RunContext(settings, db_name, run_id, choice.regime, initial)
            runner: Runner = kafka_runner() if kafka else inprocess.run
            outcome = run_records(records, bundle, ctx, runner, progress)
            summary = Summary(
                run_id=run_id,
                database=db_name,
                bundle_id=bundle.bundle_id,
                bundle_rev=bundle.rev,
                engine="kafka" if kafka else "in-process",
                files=[str(p) for p in paths],
                records=outcome.records,
                ticks=outcome.ticks,
                wall_s=outcome.wall_s,
                events_per_s=outcome.events_per_s,
                initial_usdt=initial,
                regime=choice.regime or defaults.DAILY,
                notes=[f"loaded in {load_s:.1f} s", *choice.notes, *outcome.notes],
            )
            read(backend, outcome, summary)
        finally:
            backend.close()
    except (ClickHouseError, NotImplementedError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        finish_stack(stack, keep_stack, settings)
    if as_json:
        click.echo(json.dumps(summary.to_json(), separators=(",", ":")))
    else:
        click.echo(render(summary))
        sql = "SELECT reason, count() FROM signals GROUP BY reason"
        click.echo(f'  query it      chimera db query --database {db_name} "{sql}"')
    if not summary.ok:
        raise SystemExit(1)


def kafka_runner() -> Runner:
    return kafka_path.run
