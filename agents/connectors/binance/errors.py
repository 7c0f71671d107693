"""Binance/ccxt errors → port errors, with the secrets and signed urls kept out of every message."""

from __future__ import annotations

import json
import re

import ccxt

from agents.connectors.port import (
    DuplicateClientOrderId,
    InsufficientBalance,
    OrderNotFound,
    OrderRejected,
    OutcomeUnknown,
    VenueError,
)

# Binance codes whose meaning is fixed whatever the message says
NOT_FOUND_CODES = frozenset({-2013, -2011})  # order does not exist / unknown order sent
DUPLICATE_CODES = frozenset({-4116, -20132})  # futures duplicate clientOrderId / duplicate clientAlgoId
INSUFFICIENT_CODES = frozenset({-2018, -2019})  # balance / margin is insufficient
# filter failure, generic new-order reject, would trigger immediately, reduce-only / post-only refused,
# min notional, bad precision
REJECTED_CODES = frozenset({-1013, -2010, -2021, -2022, -4164, -5022, -1111})
# "Execution status unknown": the request may have reached the matching engine
UNKNOWN_CODES = frozenset({-1006, -1007})

_JSON_BODY = re.compile(r"\{.*\}", re.S)
_URL = re.compile(r"https?://\S+")


class InvalidRequest(VenueError):
    """Our own check refused the request before anything was sent (bad qty, price, type)."""


class VenueUnavailable(VenueError):
    """A read still failed on transport errors after its retries: nothing is known either way."""


class OrderNotPlaced(OrderNotFound):
    """After an unknown outcome, the venue says the order does not exist, and it no longer can.

    Raised only once the request's ``recvWindow`` has passed: Binance's matching engine rejects a
    request that arrives later than that, so a late copy can no longer be executed. The caller
    may send again with the same client_order_id.
    """


def binance_code(exc: BaseException) -> tuple[int | None, str]:
    """Return Binance's ``(code, msg)`` for a ccxt exception (pinned by the client, or in its text)."""
    pinned = getattr(exc, "binance_code", None)
    if pinned is not None:
        try:
            return int(pinned), str(getattr(exc, "binance_msg", ""))
        except (TypeError, ValueError):
            pass
    text = str(exc)
    match = _JSON_BODY.search(text)
    if match:
        try:
            body = json.loads(match.group(0))
        except ValueError:
            body = None
        if isinstance(body, dict) and "code" in body:
            try:
                code: int | None = int(body["code"])
            except (TypeError, ValueError):
                code = None
            return code, str(body.get("msg", ""))
    return None, scrub(text)


def scrub(text: str, *secrets: str) -> str:
    """Drop urls (signed query strings) and any given secret from a message."""
    out = _URL.sub(lambda m: m.group(0).split("?", 1)[0], text)
    for secret in secrets:
        if secret:
            out = out.replace(secret, "***")
    return out


def is_unknown_outcome(exc: BaseException) -> bool:
    """True when a write may or may not have reached the venue (timeout, 5xx, lost response)."""
    if isinstance(exc, ccxt.NetworkError | ccxt.BadResponse):
        return True
    if isinstance(exc, ccxt.BaseError):
        code, _ = binance_code(exc)
        return code in UNKNOWN_CODES
    return False


def to_port_error(exc: BaseException, action: str, *secrets: str) -> VenueError:
    """Map a ccxt exception raised by ``action`` to the port's error types."""
    code, msg = binance_code(exc)
    text = scrub(f"{action}: {msg or type(exc).__name__} (binance code {code})", *secrets)
    lowered = msg.lower()
    if code in DUPLICATE_CODES or (code == -2010 and "duplicate" in lowered):
        return DuplicateClientOrderId(text, code)
    if code in NOT_FOUND_CODES or (code is None and isinstance(exc, ccxt.OrderNotFound)):
        return OrderNotFound(text, code)
    if code in INSUFFICIENT_CODES or (code == -2010 and "insufficient" in lowered):
        return InsufficientBalance(text, code)
    if code in REJECTED_CODES:
        return OrderRejected(text, code)
    if is_unknown_outcome(exc):
        return OutcomeUnknown(text, code if code is not None else type(exc).__name__)
    return VenueError(text, code if code is not None else type(exc).__name__)
