"""A config bundle: S3's :class:`StrategyConfig`, S2's :class:`FeatureConfig` and, optionally, S6's
:class:`PositionConfig` (without one S6 derives its policy from the strategy), as one JSON document.

``rev`` is a hash of the bundle's canonical JSON (sorted keys, no spaces, Decimals normalised), so
equal content has one rev however it was spelled, and ``bundle_id`` only names it (the same content
under two ids has one rev). Feature events and decisions carry the rev; S2's ``config_rev`` inside
``features`` is therefore derived, never written in a bundle file.

Loading validates everything before anything is stored or active: the schema (unknown fields
refused), every rule parsed and checked against S2's feature names (the error names the rule), the
model's and the entry signal's feature names. :func:`parse_bundle` turns pydantic's errors into
:class:`BundleRefused` with one message per problem, each starting with where it is.
"""

from __future__ import annotations

import json
from functools import cached_property
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator

from agents.features.config import FeatureConfig
from agents.positions.config import PositionConfig
from agents.strategy.config import StrategyConfig
from chimera.model import stable_hash

BundleId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]{1,100}$")]


class BundleRefused(ValueError):
    """A bundle that does not validate; ``messages`` name each problem's place."""

    def __init__(self, messages: list[str]) -> None:
        self.messages = messages
        super().__init__("bundle refused: " + "; ".join(messages))


class Bundle(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    bundle_id: BundleId
    description: str = Field("", max_length=2_000, description="free text; not part of rev")
    strategy: StrategyConfig
    features: FeatureConfig = FeatureConfig()
    positions: PositionConfig | None = None

    @model_validator(mode="after")
    def _no_feature_rev(self) -> Bundle:
        if "config_rev" in self.features.model_fields_set:
            raise ValueError("features.config_rev is the bundle's rev, set on activation: leave it out")
        return self

    @model_validator(mode="after")
    def _positions_agree_with_the_strategy(self) -> Bundle:
        # the entry gate reserved qty·price/leverage for a lease: S6 gives back and renews exactly that
        p, s = self.positions, self.strategy
        if p is not None and p.leverage != s.leverage:
            raise ValueError(f"positions.leverage {p.leverage} must equal strategy.leverage {s.leverage}")
        if p is not None and p.gate_lease_ttl_ms != s.gate_lease_ttl_ms:
            raise ValueError(
                f"positions.gate_lease_ttl_ms {p.gate_lease_ttl_ms} must equal strategy.gate_lease_ttl_ms "
                f"{s.gate_lease_ttl_ms}"
            )
        return self

    @cached_property
    def canonical_json(self) -> str:
        """What ``rev`` hashes: the strategy's canonical JSON, the feature parameters and S6's policy
        when the bundle has one (left out when not, so bundles without one keep their rev)."""
        feats = self.features.model_dump(mode="json", exclude={"config_rev"})
        doc: dict[str, Any] = {"features": feats, "strategy": json.loads(self.strategy.canonical_json)}
        if self.positions is not None:
            doc["positions"] = self.positions.model_dump(mode="json")
        return json.dumps(doc, sort_keys=True, separators=(",", ":"), allow_nan=False)

    @cached_property
    def rev(self) -> str:
        return stable_hash("bundle", self.canonical_json)

    def document(self) -> str:
        """The stored form (``config_bundles.content``): parses back to a bundle of the same rev."""
        doc = json.loads(self.canonical_json)
        return json.dumps(
            {"bundle_id": self.bundle_id, "description": self.description, **doc}, sort_keys=True
        )

    def feature_config(self) -> FeatureConfig:
        """S2's parameters with ``config_rev`` set to this bundle's rev (part of every signal_id)."""
        return self.features.model_copy(update={"config_rev": self.rev})


def _where(loc: tuple[int | str, ...]) -> str:
    # pydantic puts a model validator's error at the model itself: say which part of the bundle
    return ".".join(str(p) for p in loc) or "(bundle)"


def parse_bundle(raw: str | bytes | dict[str, Any]) -> Bundle:
    """Validate a bundle (JSON text or a dict); raise :class:`BundleRefused` naming every problem."""
    try:
        if isinstance(raw, dict):
            return Bundle.model_validate(raw)
        return Bundle.model_validate_json(raw)
    except ValidationError as exc:
        messages = [
            f"{_where(tuple(e['loc']))}: {str(e['msg']).removeprefix('Value error, ')}"
            for e in exc.errors(include_url=False)
        ]
        raise BundleRefused(messages) from None
