"""Feature events to their ``feat.events`` wire form, checked against the contract on the way out.

Two ways, the same bytes (``tests/agents/features/test_features_encode.py`` holds them equal on the
BTC month):

- :func:`encode_events`: dict events validated in ONE pydantic call (a list adapter), each model
  written by its schema's serializer.
- :func:`encode_columns`: a batch's :class:`EventColumns` written without a model per event (~7 µs
  per event less). The contract is checked on the columns instead: every feature value a finite
  JSON number or null (NaN), ``t0`` >= 0, each dqc list once through the model, and for each
  (symbol, ``config_rev``) the first event through the model, whose bytes must equal the ones built
  here (so the symbol and rev are valid, and the signal id, made of them, is too). Whatever fails is
  re-encoded by :func:`encode_events`, which raises pydantic's ValidationError naming the field.
  Numbers are written by pydantic-core's own serializer (one ``to_json`` call over the batch), so
  they are spelled as the model would spell them.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from itertools import chain

from pydantic import TypeAdapter
from pydantic_core import PydanticSerializationError, to_json

from agents.features.core import FEATURES, EventColumns, FeatureEvent
from topics.trading import FeatureEvent as FeatureMessage

log = logging.getLogger(__name__)
_EVENTS = TypeAdapter(list[FeatureMessage])
_dqc_json: dict[tuple[str, ...], bytes] = {}  # flags -> their JSON, checked by the contract
_templates: dict[tuple[str, str], bytes] = {}  # (symbol, config_rev) -> its events' %-template
_NUMBER_BYTES = b"0123456789.e+-,nulNa"  # all a list of JSON numbers, nulls and NaNs is made of


def encode_events(events: Sequence[FeatureEvent]) -> list[bytes]:
    """Wire bytes of each event; pydantic's ValidationError names the field an event gets wrong."""
    if not events:
        return []
    return [m.__pydantic_serializer__.to_json(m) for m in _EVENTS.validate_python(events)]


def encode_columns(cols: EventColumns) -> list[bytes]:
    """Wire bytes of each of a batch's events, as :func:`encode_events` writes them."""
    n = len(cols)
    if not n:
        return []
    # every value of the batch, event after event, in one serializer call; NaN is the core's null
    try:
        flat = to_json(list(chain.from_iterable(zip(*cols.values, strict=True))), inf_nan_mode="constants")
    except PydanticSerializationError:  # a value of no JSON type (e.g. a NumPy int)
        return encode_events(cols.events())
    numbers = flat[1:-1]
    # only JSON numbers, null and NaN: no string, bool, list or Infinity (what FiniteFloat | int | None
    # would refuse or convert), and as many values as the events have features
    if numbers.translate(None, _NUMBER_BYTES) or min(cols.t0) < 0:
        return encode_events(cols.events())  # refuses the batch, naming the field
    parts = numbers.replace(b"NaN", b"null").split(b",")
    w = len(FEATURES)
    if len(parts) != n * w:
        return encode_events(cols.events())
    key = (cols.symbol, cols.config_rev)
    template = _templates.get(key)
    if template == b"":  # a symbol or rev this module does not spell as the contract does
        return encode_events(cols.events())
    fresh = template is None
    if template is None:
        template = _template(cols.symbol, cols.config_rev)
    dqc = [_dqc_json.get(tuple(f)) or _dqc_of(cols, f) for f in cols.dqc]
    sids = [sid.encode() for sid in cols.signal_id]
    rows = zip(sids, cols.t0, *(parts[k::w] for k in range(w)), dqc, strict=True)
    # one %-format for the whole batch, events separated by a newline (JSON here never holds one raw)
    out = (template * n % tuple(chain.from_iterable(rows))).split(b"\n")[:-1]
    if fresh:  # checked once: the first event through the model (which validates symbol and rev)
        want = encode_events(_first(cols))[0]
        _templates[key] = template if out[0] == want else b""
        if out[0] != want:  # e.g. a symbol JSON escapes, in the signal id too
            log.error(
                "encode_columns wrote %r where the contract writes %r: encoding by the model", out[0], want
            )
            return encode_events(cols.events())
    return out


def _template(symbol: str, rev: str) -> bytes:
    """A %-template of one event of ``symbol`` under ``rev`` (signal id, t0, features, dqc to fill)."""
    features = b",".join(b'"%b":%%b' % name.encode() for name in FEATURES)
    return b'{"v":1,"signal_id":"%%b","t0":%%d,"symbol":%b,"features":{%b},"dqc":%%b,"config_rev":%b}\n' % (
        to_json(symbol).replace(b"%", b"%%"),
        features,
        to_json(rev).replace(b"%", b"%%"),
    )


def _first(cols: EventColumns) -> list[FeatureEvent]:
    one = EventColumns(
        cols.symbol,
        cols.config_rev,
        cols.t0[:1],
        cols.signal_id[:1],
        [v[:1] for v in cols.values],
        cols.dqc[:1],
    )
    return one.events()


def _dqc_of(cols: EventColumns, flags: list[str]) -> bytes:
    """A dqc list never seen yet, checked and spelled by the contract (a probe event carrying it)."""
    probe: FeatureEvent = {
        "signal_id": cols.signal_id[0],
        "t0": 0,
        "symbol": cols.symbol,
        "features": {},
        "dqc": flags,
        "config_rev": cols.config_rev,
    }
    spelled = to_json(_EVENTS.validate_python([probe])[0].dqc)
    _dqc_json[tuple(flags)] = spelled
    return spelled
