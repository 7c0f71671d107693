"""Consumer-side dead-lettering (DESIGN §1.6): bad input never crashes a worker, is never dropped.

``route`` is what an agent's shell calls on every record it consumes: a valid record comes back as
its model; an invalid one is sent to ``dlq.<topic>`` (same prefix) as a :class:`DeadLetter` naming
the field at fault, counted, and the shell moves on to the next record.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from pydantic import BaseModel

from topics.codec import TopicDecodeError, decode
from topics.envelope import DeadLetter
from topics.registry import dlq_name, spec_of, split_topic

# produce(topic, key, value): e.g. a confluent Producer's produce, or a Faust topic's send
Send = Callable[[str, bytes | None, bytes], None]

__all__ = ["DeadLetter", "Send", "dlq_topic", "route"]


def dlq_topic(topic: str) -> str:
    """The physical dead-letter topic of a physical topic: ``bt.r1.mkt.perp`` -> ``bt.r1.dlq.mkt.perp``."""
    prefix, logical = split_topic(topic)
    if logical.startswith("dlq."):
        raise ValueError(f"{topic} is a dead-letter topic: its bad records have nowhere further to go")
    return prefix + dlq_name(logical)


def route(
    topic: str,
    raw: bytes | None,
    send: Send,
    *,
    key: bytes | str | None = None,
    partition: int | None = None,
    offset: int | None = None,
    ts: int | None = None,
    counter: Counter[str] | None = None,
) -> tuple[BaseModel | None, DeadLetter | None]:
    """Decode a consumed record of ``topic`` (its physical name), or dead-letter it.

    Returns ``(model, None)`` for a valid record and ``(None, letter)`` for one that went to the
    DLQ; ``counter[<logical topic>]`` counts the dead letters. A tombstone (no value) on a
    compacted topic is a deletion, not an error: ``(None, None)``.
    """
    _, logical = split_topic(topic)
    if raw is None and spec_of(logical).compact:
        return None, None
    try:
        return decode(topic, raw), None
    except TopicDecodeError as exc:
        letter = DeadLetter.of(
            topic, raw or b"", str(exc), partition=partition, offset=offset, key=key, ts=ts
        )
    # the dead letter keeps the source record's key as it was, so it lands beside its neighbours
    dlq_key = key.encode() if isinstance(key, str) else key
    if not logical.startswith("dlq."):  # a broken dead letter has nowhere further to go: count it only
        send(dlq_topic(topic), dlq_key, letter.encode())
    if counter is not None:
        counter[logical] += 1
    return None, letter
