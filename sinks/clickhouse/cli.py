"""``chimera db``: migrate the schema, run a query — on whichever backend the settings choose."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from decimal import Decimal
from typing import Any

import click

from sinks.clickhouse.backend import ClickHouseBackend, ClickHouseError, QueryResult

BACKENDS = click.Choice(["chdb", "chdb-http", "server"])


@contextmanager
def _backend(backend: str | None, database: str | None) -> Iterator[ClickHouseBackend]:
    from chimera.settings import get_settings
    from sinks.clickhouse.factory import open_backend

    try:
        conn = open_backend(get_settings(), backend, database)
    except (ClickHouseError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    try:
        yield conn
    except ClickHouseError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        conn.close()


def _text(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_text(v) for v in value) + "]"
    if value is None:
        return "NULL"
    return str(value)


def _json_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)  # exact: JSON numbers would go through a float
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    return value


def render(result: QueryResult, fmt: str) -> str:
    """Return the result as an aligned table, JSON lines (one object per row) or TSV with a header."""
    cols, rows = result
    if not cols:
        return ""  # a statement without a result (DDL, INSERT)
    if fmt == "json":
        return "\n".join(
            json.dumps({c: _json_value(v) for c, v in zip(cols, row, strict=True)}) for row in rows
        )
    cells = [[_text(v) for v in row] for row in rows]
    if fmt == "tsv":
        return "\n".join("\t".join(line) for line in [cols, *cells])
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(cols)]
    lines = [" | ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True))]
    lines.append("-+-".join("-" * w for w in widths))
    lines += [" | ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in cells]
    lines.append(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")
    return "\n".join(lines)


@click.group()
def db() -> None:
    """ClickHouse: migrate the schema, run queries (backend from CHIMERA_CLICKHOUSE_BACKEND)."""


@db.command()
@click.option("--backend", type=BACKENDS, default=None, help="override the backend of the settings")
@click.option("--database", default=None, help="override CHIMERA_CLICKHOUSE_DATABASE")
def migrate(backend: str | None, database: str | None) -> None:
    """Apply the pending migrations of infra/ddl (running it twice is harmless)."""
    from sinks.clickhouse.migrate import migrate as run_migrations

    with _backend(backend, database) as conn:
        applied = run_migrations(conn)
        for mig in applied:
            click.echo(f"applied {mig.version:04d}_{mig.name}")
        click.echo(f"{conn.name} database {conn.database}: {len(applied)} migration(s) applied, up to date")


@db.command()
@click.argument("sql")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "tsv"]), default="table")
@click.option("--backend", type=BACKENDS, default=None, help="override the backend of the settings")
@click.option("--database", default=None, help="override CHIMERA_CLICKHOUSE_DATABASE")
def query(sql: str, fmt: str, backend: str | None, database: str | None) -> None:
    """Run SQL and print the result."""
    with _backend(backend, database) as conn:
        out = render(conn.query(sql), fmt)
    if out:
        click.echo(out)
