"""Numbered migrations (``infra/ddl/NNNN_name.sql``) applied in order, recorded in ``schema_migrations``.

Every statement in a migration is ``CREATE ... IF NOT EXISTS``, so a run cut short and re-run is
harmless, and a second ``migrate`` applies nothing. A migration that changed after it was applied
is refused: write a new one instead.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import infra
from chimera.model.clock import Clock, LiveClock
from sinks.clickhouse.backend import ClickHouseBackend, ClickHouseError
from sinks.clickhouse.dialect import TABLE_SETTINGS, dialect_of

DDL_DIR = Path(infra.__file__).parent / "ddl"
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")

SCHEMA_MIGRATIONS = f"""
CREATE TABLE IF NOT EXISTS schema_migrations
(
    version UInt32,
    name String,
    checksum String,
    applied_ms Int64
)
ENGINE = ReplacingMergeTree()
ORDER BY version
{TABLE_SETTINGS}
"""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        """Hash of the statements, not the file: editing a comment is not a schema change."""
        return hashlib.sha256("\n;\n".join(self.statements()).encode()).hexdigest()[:16]

    def statements(self) -> list[str]:
        return split_statements(self.sql)


def split_statements(sql: str) -> list[str]:
    """Split on ``;`` at line ends; full-line ``--`` comments are dropped first (they may hold ``;``)."""
    lines = [ln for ln in sql.splitlines() if not ln.lstrip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


def load_migrations(ddl_dir: Path = DDL_DIR) -> list[Migration]:
    """Return the migrations in version order; a badly named file or a repeated number is an error."""
    found: dict[int, Migration] = {}
    for path in sorted(ddl_dir.glob("*.sql")):
        match = _NAME.match(path.name)
        if match is None:
            raise ValueError(f"{path}: migration files are named NNNN_lower_snake.sql")
        version = int(match.group(1))
        if version in found:
            raise ValueError(f"{path}: version {version} already used by {found[version].name}")
        found[version] = Migration(version, match.group(2), path.read_text(encoding="utf-8"))
    return [found[v] for v in sorted(found)]


def applied_migrations(backend: ClickHouseBackend) -> dict[int, tuple[str, str]]:
    """Return ``{version: (name, checksum)}`` of what this database has applied."""
    backend.execute(dialect_of(backend).render(SCHEMA_MIGRATIONS))
    res = backend.query("SELECT version, name, checksum FROM schema_migrations FINAL")
    return {int(v): (str(n), str(c)) for v, n, c in res.rows}


def migrate(
    backend: ClickHouseBackend, ddl_dir: Path = DDL_DIR, clock: Clock | None = None
) -> list[Migration]:
    """Apply the pending migrations in order; return those applied (empty when up to date)."""
    clock = clock or LiveClock()
    dialect = dialect_of(backend)
    done = applied_migrations(backend)
    applied = []
    for mig in load_migrations(ddl_dir):
        if mig.version in done:
            checksum = done[mig.version][1]
            if checksum != mig.checksum:
                raise ClickHouseError(
                    f"migration {mig.version:04d}_{mig.name} changed after it was applied "
                    f"(recorded {checksum}, file {mig.checksum}); add a new migration instead"
                )
            continue
        for statement in mig.statements():
            try:
                backend.execute(dialect.render(statement))
            except ClickHouseError as exc:
                raise ClickHouseError(f"migration {mig.version:04d}_{mig.name} failed: {exc}") from exc
        backend.insert(
            "schema_migrations",
            ["version", "name", "checksum", "applied_ms"],
            [[mig.version], [mig.name], [mig.checksum], [clock.now_ms()]],
        )
        applied.append(mig)
    return applied
