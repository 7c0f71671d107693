"""Feature events to their ``feat.events`` wire form, checked against the contract on the way out.

A window's events are validated in ONE pydantic call (a list adapter) and each model is written
by its schema's serializer: the same bytes as ``encode(FeatureMessage.model_validate(e))`` per
event, without the per-call Python overhead (measured ~1.3x cheaper per event on the BTC month).
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import TypeAdapter

from agents.features.core import FeatureEvent
from topics.trading import FeatureEvent as FeatureMessage

_EVENTS = TypeAdapter(list[FeatureMessage])


def encode_events(events: Sequence[FeatureEvent]) -> list[bytes]:
    """Wire bytes of each event; pydantic's ValidationError names the field an event gets wrong."""
    if not events:
        return []
    return [m.__pydantic_serializer__.to_json(m) for m in _EVENTS.validate_python(events)]
