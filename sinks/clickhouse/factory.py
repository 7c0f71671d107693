"""Build the backend the settings ask for."""

from __future__ import annotations

from chimera.model.clock import Clock
from chimera.settings import Settings
from sinks.clickhouse.backend import ClickHouseBackend
from sinks.clickhouse.sink import BatchingSink


def open_backend(
    settings: Settings, backend: str | None = None, database: str | None = None
) -> ClickHouseBackend:
    """Return a connected backend: ``chdb`` (this process owns the store), ``chdb-http`` (ask the
    owner process at ``chdb_http_port``) or ``server`` (clickhouse-server at ``clickhouse_url``)."""
    kind = backend or settings.clickhouse_backend
    db = database or settings.clickhouse_database
    if kind == "chdb":
        from sinks.clickhouse.chdb_backend import ChdbBackend

        return ChdbBackend(settings.chdb_dir, db)
    if kind == "chdb-http":
        from sinks.clickhouse.http_backend import ChdbHttpBackend

        return ChdbHttpBackend(f"http://127.0.0.1:{settings.chdb_http_port}", db)
    if kind == "server":
        from sinks.clickhouse.server_backend import ServerBackend

        return ServerBackend(settings.clickhouse_url, db)
    raise ValueError(f"unknown ClickHouse backend {kind!r}: use chdb, chdb-http or server")


def open_sink(settings: Settings, clock: Clock, backend: ClickHouseBackend | None = None) -> BatchingSink:
    """Return the batching sink sized by ``sink_batch_rows`` / ``sink_flush_ms``, on ``backend``
    or on the settings' backend."""
    return BatchingSink(
        backend or open_backend(settings),
        clock,
        batch_rows=settings.sink_batch_rows,
        flush_ms=settings.sink_flush_ms,
    )
