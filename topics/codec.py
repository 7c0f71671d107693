"""Bytes on a topic ⇄ its schema's model, with errors that name the topic and the field.

``decode`` accepts the logical name (``ord.results``) or the physical one (``bt.r1.ord.results``,
``dlq.ord.results``): a consumer passes ``record.topic`` as it is.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, RootModel, ValidationError

from topics.envelope import DeadLetter
from topics.registry import KEY_FIELDS, TopicSpec, spec_of, split_topic, union_members

MAX_PROBLEMS = 5  # a reason is read by people: the first few problems say enough


@dataclass(frozen=True, slots=True)
class Problem:
    field: str  # dotted path, e.g. "fills[0].price"; "(json)" / "(value)" when no field is at fault
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class TopicDecodeError(ValueError):
    """A record that is not a valid message of its topic."""

    def __init__(self, topic: str, schema: str, problems: list[Problem]) -> None:
        self.topic, self.schema, self.problems = topic, schema, problems
        shown = "; ".join(map(str, problems[:MAX_PROBLEMS]))
        more = f" (+{len(problems) - MAX_PROBLEMS} more)" if len(problems) > MAX_PROBLEMS else ""
        super().__init__(f"{topic}: invalid {schema}: {shown}{more}")

    @property
    def fields(self) -> list[str]:
        return [p.field for p in self.problems]


class TopicEncodeError(TypeError):
    """A model handed to a topic whose schema it is not."""


def decode(topic: str, data: bytes | str | None) -> BaseModel:
    """Parse and validate a record of ``topic``; a union topic gives back the member model."""
    spec = spec_of(split_topic(topic)[1])
    if data is None:
        raise TopicDecodeError(topic, spec.schema_name(), [Problem("(value)", "the record has no value")])
    try:
        model = spec.schema.model_validate_json(data)
    except ValidationError as exc:
        schema, problems = _problems(spec, exc)
        raise TopicDecodeError(topic, schema, problems) from None
    return model.root if isinstance(model, RootModel) else model


def encode(model: BaseModel, topic: str | None = None) -> bytes:
    """The wire form of ``model``; with ``topic``, first check the model is that topic's schema."""
    if topic is not None:
        spec = spec_of(split_topic(topic)[1])
        if not isinstance(model, tuple(union_members(spec.schema))):
            raise TopicEncodeError(f"{topic} carries {spec.schema_name()}, not {type(model).__name__}")
    own = getattr(model, "encode", None)
    # a schema's own encode may be leaner (MarketBatch leaves absent columns out)
    return own() if callable(own) else model.model_dump_json().encode()


def key_for(topic: str, model: BaseModel) -> bytes | None:
    """The record key of ``model`` on ``topic`` (DESIGN §3); None on an unkeyed topic."""
    spec = spec_of(split_topic(topic)[1])
    if isinstance(model, DeadLetter):  # a dead letter keeps its source record's key
        return None if model.key is None else model.key.encode()
    field = KEY_FIELDS[spec.key]
    return None if field is None else str(getattr(model, field)).encode()


def _problems(spec: TopicSpec, exc: ValidationError) -> tuple[str, list[Problem]]:
    """The schema at fault (a union topic's member, when its tag was read) and the problems."""
    members = union_members(spec.schema)
    known = {name for m in members for name in m.model_fields}
    schema = spec.schema_name()
    out: list[Problem] = []
    for err in exc.errors(include_url=False):
        loc = list(err["loc"])
        # a union topic's errors start with the member's tag ("place", "cancel"): not a field
        if issubclass(spec.schema, RootModel) and loc and isinstance(loc[0], str) and loc[0] not in known:
            schema = _member_of_tag(members, loc[0]) or schema
            loc = loc[1:]
        message = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "json_invalid":
            out.append(Problem("(json)", message))
        elif loc:
            out.append(Problem(_path(loc), message))
        else:
            # a model-level check names its fields first: "market: ...; sl_price: ..."
            for part in message.split("; "):
                head, sep, rest = part.partition(": ")
                out.append(Problem(head, rest) if sep and head in known else Problem("(message)", part))
    # a union of types (float | int | None) fails once per member: the field and the reason suffice
    return schema, list(dict.fromkeys(out))


def _member_of_tag(members: list[type[BaseModel]], tag: str) -> str | None:
    for m in members:
        if any(f.default == tag for f in m.model_fields.values()):
            return m.__name__
    return None


# the names pydantic gives union members and dict keys inside an error's location
_TYPE_LABELS = {"float", "int", "str", "bool", "none", "decimal", "[key]", "list", "dict", "constrained-str"}


def _path(loc: list[int | str]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, str) and (part in _TYPE_LABELS or "[" in part):
            continue
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else part)
    return path
