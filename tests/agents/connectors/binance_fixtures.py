"""Test kit for the Binance adapter: ccxt's real classes with the network replaced by recordings.

The one fake is the HTTP transport: :class:`FakeSession` stands in for the aiohttp session ccxt
opens, so everything above the socket (signing, param building, error mapping, parsing) runs as
in production. It records each request and answers from a route table or a queue.

Recordings come from ccxt's own static test fixtures (``shared/data/ccxt``, taken from the ccxt
repository's ``ts/src/test/static/``); ``data/binance_markets.json`` is a trimmed copy of that
repository's ``ts/src/test/static/markets/binance.json`` (only the symbols used here).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from agents.connectors.binance import BinanceVenue
from chimera.model import TestClock
from chimera.settings import Settings

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
SHARED_CCXT = REPO.parent / "shared" / "data" / "ccxt"
MARKETS_FILE = HERE / "data" / "binance_markets.json"

# ccxt's static request runner drops these before comparing (the file's own ``skipKeys`` adds
# newClientOrderId, whose value is random when ccxt generates it; ours is compared separately)
VOLATILE_KEYS = frozenset({"timestamp", "signature", "recvWindow"})

API_KEY = "test-api-key-AAAA1111"
API_SECRET = "test-api-secret-ZZZZ9999-never-print-me"


def load_static(kind: str) -> dict[str, Any]:
    """Return ccxt's recorded static ``request`` or ``response`` file for Binance."""
    path = SHARED_CCXT / f"binance-static-{kind}.json"
    if not path.exists():
        raise FileNotFoundError(f"recordings missing: {path} (shared/data must sit beside the repo)")
    return json.loads(path.read_text())


def static_case(kind: str, method: str, description: str) -> dict[str, Any]:
    """Return one recorded case by ccxt method name and description."""
    cases = load_static(kind)["methods"][method]
    for case in cases:
        if case["description"] == description:
            return case
    raise KeyError(f"no {kind} case {method!r} / {description!r}")


def raw_market_infos() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Return Binance's raw exchangeInfo symbols (spot, usdm) kept under ``info`` in the fixture."""
    markets = json.loads(MARKETS_FILE.read_text())
    spot = [m["info"] for m in markets.values() if m["type"] == "spot"]
    swap = [m["info"] for m in markets.values() if m["type"] == "swap"]
    return spot, swap


def split_request(url: str, body: str | None) -> tuple[str, dict[str, str]]:
    """Return the url path and the request params (query or urlencoded body) minus volatile keys."""
    parts = urlsplit(url)
    raw = body if body else parts.query
    params = {k: v for k, v in parse_qsl(raw, keep_blank_values=True) if k not in VOLATILE_KEYS}
    return parts.path, params


@dataclass
class SentRequest:
    method: str
    url: str
    headers: dict[str, str]
    body: str | None

    @property
    def path(self) -> str:
        return urlsplit(self.url).path

    @property
    def params(self) -> dict[str, str]:
        return split_request(self.url, self.body)[1]


class FakeResponse:
    def __init__(self, status: int, payload: Any, reason: str = "") -> None:
        self.status = status
        self.reason = reason or ("OK" if status < 400 else "Error")
        self._text = payload if isinstance(payload, str) else json.dumps(payload)
        self.headers: dict[str, str] = {"Content-Type": "application/json"}
        self.content = self._text.encode()

    async def text(self, errors: str = "strict") -> str:
        return self._text

    async def __aenter__(self) -> FakeResponse:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None


# a reply is a (status, json payload) pair, an exception instance to raise, or a callable of the request
Reply = tuple[int, Any] | BaseException | Callable[[SentRequest], "tuple[int, Any]"]


class FakeSession:
    """Stands in for ``aiohttp.ClientSession``: records requests, answers by ``(METHOD, path)``."""

    def __init__(self) -> None:
        self.sent: list[SentRequest] = []
        self.routes: dict[tuple[str, str], list[Reply]] = {}
        self.headers: dict[str, str] = {}
        self.closed = False

    def reply(self, method: str, path: str, *replies: Reply) -> None:
        """Queue replies for a route; the last one repeats once the queue is down to it."""
        self.routes.setdefault((method.upper(), path), []).extend(replies)

    def to(self, method: str, path: str) -> list[SentRequest]:
        return [r for r in self.sent if r.method == method.upper() and r.path == path]

    def _answer(self, req: SentRequest) -> FakeResponse:
        queue = self.routes.get((req.method, req.path))
        if not queue:
            return FakeResponse(404, {"code": -1, "msg": f"no recording for {req.method} {req.path}"})
        reply = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(reply, BaseException):
            raise reply
        if callable(reply):
            reply = reply(req)
        status, payload = reply
        return FakeResponse(status, payload)

    def _call(self, method: str) -> Callable[..., FakeResponse]:
        def call(url: Any, data: bytes | None = None, headers: dict[str, str] | None = None, **_: Any) -> Any:
            body = data.decode() if isinstance(data, bytes) else data
            req = SentRequest(method, str(url), dict(headers or {}), body)
            self.sent.append(req)
            return self._answer(req)

        return call

    def __getattr__(self, name: str) -> Callable[..., FakeResponse]:
        if name in ("get", "post", "put", "delete"):
            return self._call(name.upper())
        raise AttributeError(name)

    async def close(self) -> None:
        self.closed = True


def serve_markets(session: FakeSession) -> None:
    """Answer ccxt's market loading with the recorded exchangeInfo symbols."""
    spot, swap = raw_market_infos()
    session.reply("GET", "/api/v3/exchangeInfo", (200, {"timezone": "UTC", "serverTime": 0, "symbols": spot}))
    session.reply(
        "GET", "/fapi/v1/exchangeInfo", (200, {"timezone": "UTC", "serverTime": 0, "symbols": swap})
    )


def test_settings(**overrides: Any) -> Settings:
    base: dict[str, Any] = {
        "venue": "binance",
        "binance_testnet": True,
        "binance_api_key": API_KEY,
        "binance_api_secret": API_SECRET,
    }
    base.update(overrides)
    return Settings(**base)


test_settings.__test__ = False  # type: ignore[attr-defined]


class FakeSleep:
    """An injected ``sleep`` that moves the test clock instead of waiting."""

    def __init__(self, clock: TestClock) -> None:
        self.clock = clock
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        self.clock.advance(int(seconds * 1000))
        await asyncio.sleep(0)


START_MS = 1_763_500_000_000


@dataclass
class Rig:
    venue: BinanceVenue
    session: FakeSession
    clock: TestClock
    sleep: FakeSleep


VenueFactory = Callable[..., Awaitable[Rig]]


@pytest.fixture
async def make_venue() -> AsyncIterator[VenueFactory]:
    """Build BinanceVenues on a FakeSession with markets served; closes them afterwards."""
    rigs: list[Rig] = []

    async def make(load: bool = True, **overrides: Any) -> Rig:
        session = FakeSession()
        serve_markets(session)
        clock = TestClock(START_MS)
        sleep = FakeSleep(clock)
        venue = BinanceVenue(
            test_settings(**overrides),
            session=session,
            clock=clock,
            sleep=sleep,
            ccxt_overrides={"rateLimit": 1, "timeout_on_exit": 0},
        )
        rig = Rig(venue, session, clock, sleep)
        rigs.append(rig)
        if load:
            await venue.load_markets()
        return rig

    yield make
    for rig in rigs:
        await rig.venue.close()


def assert_matches_recording(
    sent: SentRequest, case: dict[str, Any], client_id: str | None = None, extra: dict[str, str] | None = None
) -> None:
    """ccxt's static-request rule: same path (host aside) and same params minus volatile keys.

    ``newClientOrderId`` is random in the recording (ccxt generated it): we check ours instead.
    Binance's algo endpoint names it ``clientAlgoId`` (the installed ccxt sends that; the
    recording, made by an older ccxt, still says ``newClientOrderId``).
    """
    path, recorded = split_request(case["url"], case.get("output"))
    assert sent.path == path, f"path {sent.path} != recorded {path}"
    ours = sent.params
    for key, value in (extra or {}).items():  # params we add on purpose beyond the recorded call
        assert ours.pop(key) == value, f"{key} missing or wrong"
    id_key = "clientAlgoId" if path.endswith("/algoOrder") and sent.method == "POST" else "newClientOrderId"
    if "newClientOrderId" in recorded:
        recorded.pop("newClientOrderId")
        assert ours.pop(id_key) == client_id, f"{id_key} is not our client order id"
    assert ours == recorded
