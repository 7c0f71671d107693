"""Migrations: every DESIGN §5 table on both engines, idempotent re-runs, edited migrations refused."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from sinks.clickhouse.backend import ClickHouseBackend, ClickHouseError
from sinks.clickhouse.dialect import Dialect
from sinks.clickhouse.migrate import DDL_DIR, load_migrations, migrate, split_statements

DESIGN_TABLES = {
    "signals", "orders", "fills", "positions_snapshots", "funding_records", "treasury_transfers",
    "strategy_events", "labels_12h", "labels_24h", "labels_36h", "autopsy_reports", "experiments",
    "hypotheses", "config_bundles", "simulations", "promotions", "config_active",
    "metrics_timeseries", "strategy_metrics_daily", "alerts",
}  # fmt: skip


def _tables(conn: ClickHouseBackend) -> set[str]:
    res = conn.query(f"SELECT name FROM system.tables WHERE database = '{conn.database}'")
    return {r[0] for r in res.rows}


@pytest.mark.parametrize("kind", ["chdb", "server"])
def test_migrate_creates_every_table_and_twice_is_harmless(
    kind: str, fresh_backend: Callable[[str], ClickHouseBackend]
) -> None:
    conn = fresh_backend(kind)
    first = migrate(conn)
    assert [m.version for m in first] == [m.version for m in load_migrations()]
    assert DESIGN_TABLES | {"schema_migrations", "orders_latest"} <= _tables(conn)

    assert migrate(conn) == []
    recorded = conn.query("SELECT version, name FROM schema_migrations ORDER BY version").rows
    assert recorded == [(m.version, m.name) for m in first]  # recorded once, not twice


@pytest.mark.parametrize("kind", ["chdb", "server"])
def test_edited_migration_is_refused(
    kind: str, fresh_backend: Callable[[str], ClickHouseBackend], tmp_path: Path
) -> None:
    conn = fresh_backend(kind)
    ddl = tmp_path / "ddl"
    shutil.copytree(DDL_DIR, ddl)
    migrate(conn, ddl)
    edited = ddl / "0001_trading.sql"
    edited.write_text(edited.read_text() + "\n-- a comment is not a change\n")
    assert migrate(conn, ddl) == []
    edited.write_text(edited.read_text().replace("reason String,", "reason String, note String,", 1))
    with pytest.raises(ClickHouseError, match=r"0001_trading changed after it was applied"):
        migrate(conn, ddl)


@pytest.mark.parametrize("kind", ["chdb", "server"])
def test_new_migration_is_applied_alone(
    kind: str, fresh_backend: Callable[[str], ClickHouseBackend], tmp_path: Path
) -> None:
    conn = fresh_backend(kind)
    ddl = tmp_path / "ddl"
    shutil.copytree(DDL_DIR, ddl)
    migrate(conn, ddl)
    (ddl / "0099_extra.sql").write_text(
        "CREATE TABLE IF NOT EXISTS extra (k String)\n"
        "ENGINE = ReplacingMergeTree() ORDER BY k\n$TABLE_SETTINGS;"
    )
    assert [m.name for m in migrate(conn, ddl)] == ["extra"]
    assert "extra" in _tables(conn)


def test_badly_named_migration_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "1_oops.sql").write_text("SELECT 1")
    with pytest.raises(ValueError, match=r"NNNN_lower_snake\.sql"):
        load_migrations(tmp_path)


def test_statements_split_ignores_semicolons_in_comments() -> None:
    sql = "-- a; b\nCREATE TABLE a (x UInt8) ENGINE = Memory;\n\n-- c;\nSELECT 1;\n"
    assert split_statements(sql) == ["CREATE TABLE a (x UInt8) ENGINE = Memory", "SELECT 1"]


def test_dialect_gates_dedup_settings_by_version() -> None:
    old, new = Dialect((18, 16, 1)), Dialect((26, 9, 2, 1))
    assert not old.dedup_token and new.dedup_token
    assert old.render("ORDER BY k $TABLE_SETTINGS") == "ORDER BY k SETTINGS index_granularity = 8192"
    assert "non_replicated_deduplication_window" in new.render("$TABLE_SETTINGS")
