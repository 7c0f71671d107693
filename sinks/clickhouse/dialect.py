"""What differs between the ClickHouse versions we run on, decided in this one place.

The DDL in ``infra/ddl`` is written for the oldest engine we support (Debian's 18.16: no Map, no
DateTime64, no JSON functions, no LowCardinality by default). The only statement text that must
differ is a MergeTree table's SETTINGS clause, written as the placeholder ``$TABLE_SETTINGS``.
"""

from __future__ import annotations

from dataclasses import dataclass

from sinks.clickhouse.backend import ClickHouseBackend

TABLE_SETTINGS = "$TABLE_SETTINGS"
DEDUP_WINDOW = 10_000  # insert tokens remembered per table (~10k batches back)


@dataclass(frozen=True)
class Dialect:
    version: tuple[int, ...]

    @property
    def dedup_window(self) -> bool:
        """Plain MergeTree remembers recent insert blocks (``non_replicated_deduplication_window``)."""
        return self.version >= (21, 1)  # conservative: added in the 20.x line

    @property
    def dedup_token(self) -> bool:
        """``insert_deduplication_token`` exists (22.2+); before, a re-sent batch is collapsed only by
        ReplacingMergeTree (reads use FINAL or the *_latest views)."""
        return self.version >= (22, 2) and self.dedup_window

    def table_settings(self) -> str:
        parts = ["index_granularity = 8192"]
        if self.dedup_window:
            parts.append(f"non_replicated_deduplication_window = {DEDUP_WINDOW}")
        return "SETTINGS " + ", ".join(parts)

    def render(self, sql: str) -> str:
        """Return ``sql`` with the version-dependent placeholders filled in."""
        return sql.replace(TABLE_SETTINGS, self.table_settings())


def dialect_of(backend: ClickHouseBackend) -> Dialect:
    """Return the backend's dialect, asking its server version once per backend object."""
    cached = getattr(backend, "_dialect", None)
    if not isinstance(cached, Dialect):
        cached = Dialect(backend.server_version())
        backend._dialect = cached  # type: ignore[attr-defined]
    return cached
