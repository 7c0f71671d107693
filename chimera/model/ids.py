"""Typed ids, derived deterministically from their inputs so a replay yields the same ids (DESIGN §1.3)."""

from __future__ import annotations

import hashlib
from typing import NewType

Symbol = NewType("Symbol", str)
SignalId = NewType("SignalId", str)
IntentId = NewType("IntentId", str)
ClientOrderId = NewType("ClientOrderId", str)
TransferId = NewType("TransferId", str)


def stable_hash(*parts: object, length: int = 16) -> str:
    """Return a hex digest of the parts, stable across processes and runs."""
    raw = "\x1f".join(str(p) for p in parts).encode()
    return hashlib.blake2b(raw, digest_size=16).hexdigest()[:length]


def signal_id_for(symbol: str, t0: int, config_rev: str | int) -> SignalId:
    return SignalId(f"sig-{symbol}-{t0}-{stable_hash(symbol, t0, config_rev, length=8)}")


def intent_id_for(signal_id: str, leg: str) -> IntentId:
    return IntentId(f"int-{stable_hash(signal_id, leg)}")


def client_order_id_for(intent_id: str, slice_no: int | str = 0) -> ClientOrderId:
    """Binance allows ``^[.A-Z:/a-z0-9_-]{1,36}$`` for newClientOrderId; this stays within it."""
    return ClientOrderId(f"chm{stable_hash(intent_id, slice_no, length=24)}-{slice_no}"[:36])
