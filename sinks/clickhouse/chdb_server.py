"""The process that owns the chdb store and serves it over HTTP (DESIGN §2).

A chdb data dir opens in one process only; this process holds it and everything else
(``chimera db query``, labels, autopsies, the UI, sinks in other workers) goes through it::

    python -m sinks.clickhouse.chdb_server --path .chimera/chdb --port 28123

Add ``--database chimera --migrate`` to apply the schema before serving.
``GET /ping`` -> ``Ok.`` · ``POST /query?database=DB`` (body: one SQL statement) -> ClickHouse
``JSONCompact`` (decimals quoted) or an empty body for statements without a result ·
``POST /insert`` (JSON ``{"database", "table", "columns", "data": [[column]...], "dedup_token"}``)
-> ``{"rows": N}``. A failed statement answers 400 with the engine's message as plain text.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import parse_qs, urlparse

from sinks.clickhouse.backend import ClickHouseError
from sinks.clickhouse.chdb_backend import ChdbBackend

MAX_BODY = 512 * 1024 * 1024


class Store:
    """One chdb store; a backend per database, all sharing the process's single chdb session."""

    def __init__(self, path: Path, default_database: str) -> None:
        self.path = path
        self.default_database = default_database
        self._backends: dict[str, ChdbBackend] = {}
        self._lock = threading.Lock()
        self.backend(default_database)  # open now: fail at start, not on the first request

    def backend(self, database: str | None) -> ChdbBackend:
        name = database or self.default_database
        with self._lock:
            if name not in self._backends:
                self._backends[name] = ChdbBackend(self.path, name)
            return self._backends[name]

    def close(self) -> None:
        with self._lock:
            for backend in self._backends.values():
                backend.close()
            self._backends.clear()


class Handler(BaseHTTPRequestHandler):
    server: ChimeraChdbServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass  # one line per request would drown the worker's log

    def _reply(self, status: int, body: bytes, content_type: str = "text/plain; charset=utf-8") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            raise ValueError(f"request body of {length} bytes exceeds {MAX_BODY}")
        return self.rfile.read(length)

    def do_GET(self) -> None:
        if urlparse(self.path).path == "/ping":
            self._reply(200, b"Ok.\n")
        else:
            self._reply(404, b"unknown path; use GET /ping, POST /query, POST /insert\n")

    def do_POST(self) -> None:
        url = urlparse(self.path)
        try:
            body = self._body()
            if url.path == "/query":
                database = parse_qs(url.query).get("database", [None])[0]
                out = self.server.store.backend(database).query_raw(body.decode("utf-8"))
                self._reply(200, out, "application/json")
            elif url.path == "/insert":
                self._reply(200, self._insert(json.loads(body)), "application/json")
            else:
                self._reply(404, b"unknown path; use POST /query or POST /insert\n")
        except (ClickHouseError, ValueError, KeyError, TypeError) as exc:
            self._reply(400, f"{type(exc).__name__}: {exc}".encode())
        except Exception as exc:  # the owner must outlive one bad request
            self._reply(500, f"{type(exc).__name__}: {exc}".encode())

    def _insert(self, doc: dict[str, Any]) -> bytes:
        for key in ("table", "columns", "data"):
            if key not in doc:
                raise KeyError(f"insert body lacks {key!r}")
        backend = self.server.store.backend(doc.get("database"))
        rows = backend.insert(doc["table"], doc["columns"], doc["data"], doc.get("dedup_token"))
        return json.dumps({"rows": rows}).encode()


class ChimeraChdbServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], store: Store) -> None:
        super().__init__(address, Handler)
        self.store = store


def serve(
    path: Path, port: int, host: str = "127.0.0.1", database: str = "default", migrate: bool = False
) -> None:
    """Open the store (migrate ``database`` first if asked) and serve until SIGTERM/SIGINT."""
    store = Store(path, database)
    if migrate:
        from sinks.clickhouse.migrate import migrate as run_migrations

        applied = run_migrations(store.backend(database))
        print(f"migrated {database}: {len(applied)} migration(s) applied", flush=True)
    server = ChimeraChdbServer((host, port), store)

    def stop(signum: int, frame: FrameType | None) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"chdb owner serving {path} on http://{host}:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
        store.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Own a chdb store and serve it over HTTP.")
    parser.add_argument("--path", type=Path, required=True, help="chdb data directory")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--database", default="default", help="database used when a request names none")
    parser.add_argument("--migrate", action="store_true", help="apply infra/ddl to --database before serving")
    args = parser.parse_args(argv)
    try:
        serve(args.path, args.port, args.host, args.database, args.migrate)
    except (ClickHouseError, OSError) as exc:
        print(f"chdb owner failed to start: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
