"""The dead-letter envelope: what went wrong, where it came from, and the raw bytes (nothing lost).

It lives apart from :mod:`topics.dlq` (the routing) because the registry needs the envelope while
the routing needs the registry.
"""

from __future__ import annotations

import base64
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class DeadLetter(BaseModel):
    """A record that could not be decoded or validated, as sent to ``dlq.<topic>``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    v: Literal[1] = 1
    source_topic: str
    reason: str = Field(min_length=1)
    partition: int | None = None
    offset: int | None = None
    key: str | None = None
    raw: str = Field(description="the payload as UTF-8 text, or base64 when raw_encoding says so")
    raw_encoding: Literal["utf-8", "base64"] = "utf-8"
    ts: int | None = Field(None, description="the source record's timestamp, epoch ms")
    # a record read from a file (a replay) rather than a topic says where in the file it was
    file: str | None = None
    line: int | None = Field(None, ge=0)

    @classmethod
    def of(
        cls,
        source_topic: str,
        raw: bytes,
        reason: str,
        *,
        partition: int | None = None,
        offset: int | None = None,
        key: bytes | str | None = None,
        ts: int | None = None,
        file: str | None = None,
        line: int | None = None,
    ) -> DeadLetter:
        try:
            text, enc = raw.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            text, enc = base64.b64encode(raw).decode(), "base64"
        k = key.decode("utf-8", "backslashreplace") if isinstance(key, bytes) else key
        return cls(
            source_topic=source_topic,
            reason=reason,
            partition=partition,
            offset=offset,
            key=k,
            raw=text,
            raw_encoding=enc,
            ts=ts,
            file=file,
            line=line,
        )

    def raw_bytes(self) -> bytes:
        return base64.b64decode(self.raw) if self.raw_encoding == "base64" else self.raw.encode()

    def encode(self) -> bytes:
        return self.model_dump_json().encode()

    @classmethod
    def decode(cls, data: bytes | str) -> DeadLetter:
        return cls.model_validate_json(data)
