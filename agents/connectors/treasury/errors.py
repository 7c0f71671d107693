"""What the service raises instead of answering a TransferResponse; the HTTP layer maps each to a status."""

from __future__ import annotations

from typing import Any


class TreasuryError(RuntimeError):
    pass


class InvalidTransferRequest(TreasuryError):
    """422: the request itself is wrong. ``errors`` are FastAPI-shaped: ``{loc, msg, type}``."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors))

    @classmethod
    def one(cls, loc: tuple[str, ...], msg: str) -> InvalidTransferRequest:
        return cls([{"loc": list(loc), "msg": msg, "type": "value_error"}])


class TransferConflict(TreasuryError):
    """409: this transfer_id was already used for a different transfer."""


class TreasuryBusy(TreasuryError):
    """503, retriable: the route's lock stayed taken for the whole wait."""


class RecordUnavailable(TreasuryError):
    """503, retriable: the record (ClickHouse) could not be read or written, so nothing was sent."""
