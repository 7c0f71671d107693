"""The batching, idempotent ClickHouse sink (the shape of Quix Streams' ``BatchingSink``).

Rows are batched per (table, topic, partition) and written in one columnar insert when a batch
reaches ``batch_rows``, when it is ``flush_ms`` old (event clock, checked on ``add`` and
``flush_due``), or on ``flush()`` at a checkpoint. A batch's insert token is derived from
(table, topic, partition, first offset, last offset) and a fingerprint of its rows: re-written after
a crash, the same batch is dropped by the engine where tokens exist, and collapses under
ReplacingMergeTree everywhere.

The caller commits Kafka offsets from :meth:`safe_offsets`: for each partition, the highest
offset whose rows are all in ClickHouse (commit that + 1). An insert that fails keeps its batch
(frozen, same token) and raises :class:`SinkBackpressure`: pause the partition, call ``flush()``
again later. A row that does not fit its table goes to ``dead_letters`` and the batch goes on.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from chimera.model.clock import Clock
from sinks.clickhouse.backend import ClickHouseBackend, ClickHouseError
from sinks.clickhouse.schema import RowError, TableSchema, columnar, load_schema

TopicPartition = tuple[str, int]


class SinkBackpressure(RuntimeError):
    """Retriable: some batches could not be written and are kept; retry ``flush()`` later."""

    def __init__(self, failures: list[tuple[str, TopicPartition, str]], retry_after_ms: int) -> None:
        self.failures = failures
        self.retry_after_ms = retry_after_ms
        detail = "; ".join(f"{table} {tp[0]}[{tp[1]}]: {err}" for table, tp, err in failures)
        super().__init__(f"{len(failures)} batch(es) not written, kept for retry: {detail}")


@dataclass(frozen=True)
class DeadLetter:
    table: str
    topic: str
    partition: int
    offset: int
    row: Mapping[str, Any]
    error: str


@dataclass
class Batch:
    table: str
    topic: str
    partition: int
    created_ms: int
    first_offset: int = -1
    last_offset: int = -1
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    frozen: bool = False  # a failed insert: retried as is, with the same token
    retry_at_ms: int = 0

    def dedup_token(self, salt: str) -> str:
        """Offsets name the batch; a fingerprint of its ends tells a replay (same rows: dropped)
        from a new incarnation of the topic whose offsets restarted (a Tansu restart, a recreated
        topic: new rows, must be kept). Hashing every row would cost as much as validating it."""
        ends = f"{len(self.rows)}|{self.rows[0]!r}|{self.rows[-1]!r}".encode()
        fingerprint = hashlib.blake2b(ends, digest_size=8).hexdigest()
        where = f"{self.table}:{self.topic}:{self.partition}:{self.first_offset}-{self.last_offset}"
        return f"{salt}{where}:{fingerprint}"


class BatchingSink:
    def __init__(
        self,
        backend: ClickHouseBackend,
        clock: Clock,
        batch_rows: int = 5_000,
        flush_ms: int = 1_000,
        max_pending_rows: int | None = None,
        retry_after_ms: int = 1_000,
        token_salt: str = "",
    ) -> None:
        if batch_rows < 1 or flush_ms < 1:
            raise ValueError("batch_rows and flush_ms must be positive")
        self.backend = backend
        self.clock = clock
        self.batch_rows = batch_rows
        self.flush_ms = flush_ms
        self.max_pending_rows = max_pending_rows or 10 * batch_rows
        self.retry_after_ms = retry_after_ms
        self.token_salt = token_salt  # e.g. a run id, when offsets may repeat with other rows
        self.dead_letters: list[DeadLetter] = []
        self.rows_written = 0
        self.last_error: SinkBackpressure | None = None
        self._schemas: dict[str, TableSchema] = {}
        self._batches: dict[tuple[str, str, int], list[Batch]] = {}  # oldest first; last one open
        self._seen: dict[TopicPartition, int] = {}

    def schema(self, table: str) -> TableSchema:
        if table not in self._schemas:
            self._schemas[table] = load_schema(self.backend, table)
        return self._schemas[table]

    def add(self, row: Mapping[str, Any], *, table: str, topic: str, partition: int, offset: int) -> None:
        """Batch one row (a bad row is dead-lettered). Raises SinkBackpressure, without taking the
        row, when the partition already holds ``max_pending_rows`` unwritten rows: pause, retry."""
        key = (table, topic, partition)
        queue = self._batches.setdefault(key, [])
        if sum(len(b.rows) for b in queue) >= self.max_pending_rows:
            raise SinkBackpressure(
                [(table, (topic, partition), f"{self.max_pending_rows} rows pending")], self.retry_after_ms
            )
        schema = self.schema(table)  # a missing table is a deployment error: raise, do not dead-letter
        self.advance(topic, partition, offset)
        try:
            values = schema.row_values(row)
        except RowError as exc:
            self.dead_letters.append(DeadLetter(table, topic, partition, offset, dict(row), str(exc)))
            return
        if not queue or queue[-1].frozen:
            queue.append(Batch(table, topic, partition, created_ms=self.clock.now_ms()))
        batch = queue[-1]
        if batch.first_offset < 0:
            batch.first_offset = offset
        batch.last_offset = offset
        batch.rows.append(values)
        try:
            if len(batch.rows) >= self.batch_rows:
                self._write([key], force=True)
            self._write(self._due_keys(), force=False)
        except SinkBackpressure as exc:
            self.last_error = exc  # the batch is kept; flush() or the pending limit reports it

    def advance(self, topic: str, partition: int, offset: int) -> None:
        """Note an offset as handled even when it produced no row (so it can be committed)."""
        tp = (topic, partition)
        self._seen[tp] = max(self._seen.get(tp, -1), offset)

    def flush_due(self) -> dict[TopicPartition, int]:
        """Write the batches at least ``flush_ms`` old (call from a timer too, not only from ``add``)."""
        self._write(self._due_keys(), force=False)
        return self.safe_offsets()

    def _due_keys(self) -> list[tuple[str, str, int]]:
        now = self.clock.now_ms()
        return [k for k, q in self._batches.items() if q and now - q[0].created_ms >= self.flush_ms]

    def flush(self) -> dict[TopicPartition, int]:
        """Write every batch (checkpoint); return the offsets safe to commit."""
        self._write(list(self._batches), force=True)
        return self.safe_offsets()

    def safe_offsets(self) -> dict[TopicPartition, int]:
        """Per partition, the highest offset whose rows are all written (commit offset + 1)."""
        pending: dict[TopicPartition, int] = {}
        for (_, topic, partition), queue in self._batches.items():
            for batch in queue:
                tp = (topic, partition)
                pending[tp] = min(pending.get(tp, batch.first_offset), batch.first_offset)
        out = {}
        for tp, seen in self._seen.items():
            safe = pending[tp] - 1 if tp in pending else seen
            if safe >= 0:
                out[tp] = safe
        return out

    def take_dead_letters(self) -> list[DeadLetter]:
        """Return and forget the dead letters (the caller sends them to ``dlq.<topic>``)."""
        out, self.dead_letters = self.dead_letters, []
        return out

    def pending_rows(self) -> int:
        return sum(len(b.rows) for q in self._batches.values() for b in q)

    def _write(self, keys: list[tuple[str, str, int]], force: bool) -> None:
        """Write the keys' batches oldest first; a failed one is frozen and retried no sooner than
        ``retry_after_ms`` later unless ``force`` (an explicit flush)."""
        now = self.clock.now_ms()
        failures: list[tuple[str, TopicPartition, str]] = []
        for key in keys:
            queue = self._batches.get(key, [])
            while queue:
                batch = queue[0]
                if not force and batch.frozen and now < batch.retry_at_ms:
                    break
                schema = self.schema(batch.table)
                data = columnar(batch.rows, len(schema.columns))
                try:
                    self.backend.insert(batch.table, schema.columns, data, batch.dedup_token(self.token_salt))
                except ClickHouseError as exc:
                    batch.frozen = True
                    batch.retry_at_ms = now + self.retry_after_ms
                    failures.append((key[0], (key[1], key[2]), str(exc).splitlines()[0]))
                    break
                self.rows_written += len(batch.rows)
                queue.pop(0)
            if not queue:
                self._batches.pop(key, None)
        if failures:
            raise SinkBackpressure(failures, self.retry_after_ms)
