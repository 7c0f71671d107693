"""``chimera db migrate`` / ``chimera db query`` against clickhouse-server and the chdb owner."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator

import pytest
from click.testing import CliRunner

from chimera.cli import main
from chimera.settings import get_settings
from sinks.clickhouse.backend import QueryResult
from sinks.clickhouse.cli import render
from sinks.clickhouse.server_backend import ServerBackend


@pytest.fixture
def server_env(monkeypatch: pytest.MonkeyPatch, clickhouse_url: str, unique_name: str) -> Iterator[str]:
    monkeypatch.setenv("CHIMERA_CLICKHOUSE_BACKEND", "server")
    monkeypatch.setenv("CHIMERA_CLICKHOUSE_URL", clickhouse_url)
    monkeypatch.setenv("CHIMERA_CLICKHOUSE_DATABASE", unique_name)
    get_settings.cache_clear()
    yield unique_name
    get_settings.cache_clear()
    ServerBackend(clickhouse_url, unique_name).execute(f"DROP DATABASE IF EXISTS {unique_name}")


def test_migrate_twice_then_query(server_env: str) -> None:
    runner = CliRunner()
    first = runner.invoke(main, ["db", "migrate"])
    assert first.exit_code == 0, first.output
    assert "applied 0001_trading" in first.output
    again = runner.invoke(main, ["db", "migrate"])
    assert again.exit_code == 0 and "0 migration(s) applied" in again.output

    out = runner.invoke(main, ["db", "query", "SELECT version, name FROM schema_migrations ORDER BY version"])
    assert out.exit_code == 0, out.output
    assert out.output.splitlines()[0].split() == ["version", "|", "name"]
    assert "1       | trading" in out.output and "(3 rows)" in out.output

    js = runner.invoke(main, ["db", "query", "--format", "json", "SELECT toDecimal128('1.5', 12) AS px"])
    assert json.loads(js.output) == {"px": "1.5"}


def test_query_error_is_a_clean_message(server_env: str) -> None:
    out = CliRunner().invoke(main, ["db", "query", "SELECT * FROM no_such_table"])
    assert out.exit_code == 1
    assert "Error:" in out.output and "no_such_table" in out.output and "Traceback" not in out.output


def test_backend_option_reaches_the_chdb_owner(
    monkeypatch: pytest.MonkeyPatch, chdb_owner: tuple[str, subprocess.Popen[bytes]]
) -> None:
    url, _ = chdb_owner
    monkeypatch.setenv("CHIMERA_CHDB_HTTP_PORT", url.rsplit(":", 1)[1])
    monkeypatch.setenv("CHIMERA_CLICKHOUSE_DATABASE", "cli_owner")  # its own database on the shared owner
    get_settings.cache_clear()
    runner = CliRunner()
    assert runner.invoke(main, ["db", "migrate", "--backend", "chdb-http"]).exit_code == 0
    out = runner.invoke(main, ["db", "query", "--backend", "chdb-http", "--format", "tsv", "SHOW TABLES"])
    get_settings.cache_clear()
    assert out.exit_code == 0, out.output
    assert out.output.splitlines()[0] == "name" and "fills" in out.output.splitlines()


def test_render_formats() -> None:
    result = QueryResult(["a", "bb"], [(1, [2, None]), (10, [])])
    assert render(result, "tsv") == "a\tbb\n1\t[2, NULL]\n10\t[]"
    table = ["a  | bb       ", "---+----------", "1  | [2, NULL]", "10 | []       ", "(2 rows)"]
    assert render(result, "table").splitlines() == table
    assert render(QueryResult([], []), "table") == ""
