"""Serve a service's FastAPI routes from the Faust worker's own web server (``worker_web_port``).

Faust's web server is aiohttp on the agents' event loop; the services' HTTP APIs are FastAPI apps
(pydantic validates the body: a 422 whose ``detail[].loc`` names the field). :func:`mount` adds a
Faust page per path that hands the request to the ASGI app and its answer back, so the routes and
their validation are written once and run in the process that holds the service's wiring (same
Redis clients, same active config, same loop). The app is looked up per request: a service builds
it once its wiring is open, and until then the page answers 503 saying so.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import faust
from aiohttp import web
from faust.web import Request, Response, View
from starlette.types import ASGIApp, Message

__all__ = ["ASGIApp", "call_asgi", "mount"]

# hop-by-hop or recomputed by aiohttp from the body it is given
_DROP = frozenset({b"content-length", b"transfer-encoding", b"connection"})


async def call_asgi(asgi: ASGIApp, request: web.Request) -> web.Response:
    """One HTTP request through an ASGI app (no streaming: the APIs answer small JSON bodies)."""
    body = await request.read()
    scope: Message = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": f"{request.version.major}.{request.version.minor}",
        "method": request.method,
        "scheme": request.scheme,
        "path": request.path,
        "raw_path": request.raw_path.split("?", 1)[0].encode(),
        "query_string": request.query_string.encode(),
        "root_path": "",
        "headers": [(k.lower(), v) for k, v in request.raw_headers],
        "client": (request.remote or "", 0),
        "server": (request.url.host or "", request.url.port or 0),
    }
    sent_body = False

    async def receive() -> Message:
        nonlocal sent_body
        if sent_body:
            return {"type": "http.disconnect"}
        sent_body = True
        return {"type": "http.request", "body": body, "more_body": False}

    status = 500
    headers: list[tuple[str, str]] = []
    chunks: list[bytes] = []

    async def send(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = int(message["status"])
            headers.extend(
                (k.decode("latin-1"), v.decode("latin-1"))
                for k, v in message.get("headers", [])
                if k.lower() not in _DROP
            )
        elif message["type"] == "http.response.body":
            chunks.append(bytes(message.get("body", b"")))

    await asgi(scope, receive, send)
    resp = web.Response(body=b"".join(chunks), status=status)
    for k, v in headers:
        resp.headers.add(k, v)
    return resp


def mount(app: faust.App, paths: Iterable[str], target: Callable[[], ASGIApp | None], starting: str) -> None:
    """Serve ``paths`` (every method: the ASGI app answers 405 itself) from ``target()``; while it
    is None, 503 with ``starting`` as the detail."""

    async def forward(view: View, request: Request) -> Response:
        asgi = target()
        if asgi is None:
            return view.json({"detail": starting}, status=503)
        return await call_asgi(asgi, request)  # type: ignore[arg-type, return-value]

    for path in paths:

        class _Forward(View):
            async def get(self, request: Request) -> Response:
                return await forward(self, request)

            async def post(self, request: Request) -> Response:
                return await forward(self, request)

            async def put(self, request: Request) -> Response:
                return await forward(self, request)

            async def patch(self, request: Request) -> Response:
                return await forward(self, request)

            async def delete(self, request: Request) -> Response:
                return await forward(self, request)

        app.page(path, name=f"asgi:{path}")(_Forward)
