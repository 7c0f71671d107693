"""L2, the model: a logistic probability over named features and its mapping to a size multiplier.

``p_up = sigmoid(intercept + sum(w_f * features[f]))`` is the probability the next move is up. An
entry's probability is ``p_up`` for a long and ``1 - p_up`` for a short; the fallback ``p`` (used
when the model times out or fails) is an entry probability, the same for both sides.

Mapping p -> size_mult, a clipped linear ramp: ``mult_lo`` at ``p <= p_lo``, ``mult_hi`` at
``p >= p_hi``, linear in between. Defaults 0.3 -> 0.5x, 0.7 -> 1.5x, so a coin flip (p = 0.5, the
default fallback) sizes at exactly 1.0x. The model never vetoes an entry on its own (mult_lo > 0
by default); give ``mult_lo = 0`` to let a low p shrink the size to nothing (then MIN_QTY skips).

This module is pure; ``model_runner`` runs a predict callable under the timeout in the shell.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, field_validator, model_validator

from agents.features.core import FEATURES
from chimera.model import Side


class ModelInputError(ValueError):
    """A feature the model needs is null or not finite on this event."""


class ModelParams(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    weights: dict[str, float] = Field(default_factory=dict, description="feature name -> logistic weight")
    intercept: float = Field(0.0, allow_inf_nan=False)
    timeout_ms: PositiveInt = Field(20, description="hard limit on one prediction, in the shell")
    fallback_p: float = Field(0.5, ge=0, le=1, description="entry probability used on timeout or error")
    p_lo: float = Field(0.3, ge=0, le=1)
    p_hi: float = Field(0.7, ge=0, le=1)
    mult_lo: float = Field(0.5, ge=0, allow_inf_nan=False)
    mult_hi: float = Field(1.5, ge=0, allow_inf_nan=False)

    @field_validator("weights")
    @classmethod
    def _known_features(cls, v: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(v) - set(FEATURES))
        if unknown:
            raise ValueError(f"model weights name unknown features {unknown} (known: {', '.join(FEATURES)})")
        bad = sorted(k for k, w in v.items() if not math.isfinite(w))
        if bad:
            raise ValueError(f"model weights of {bad} are not finite")
        return dict(sorted(v.items()))  # a fixed order, so the float sum is the same everywhere

    @model_validator(mode="after")
    def _ramp(self) -> ModelParams:
        if self.p_lo >= self.p_hi:
            raise ValueError(f"p_lo ({self.p_lo}) must be below p_hi ({self.p_hi})")
        if self.mult_lo > self.mult_hi:
            raise ValueError(f"mult_lo ({self.mult_lo}) exceeds mult_hi ({self.mult_hi})")
        return self


def _sigmoid(z: float) -> float:
    # the two branches keep exp() from overflowing for large |z|
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


class LogisticModel:
    """The default predict callable: ``predict(features) -> p_up``."""

    inline = True  # pure and microseconds: the runner calls it in place, with no deadline

    def __init__(self, params: ModelParams) -> None:
        self._w = tuple(params.weights.items())
        self._b = params.intercept

    def predict(self, features: Mapping[str, float | int | None]) -> float:
        z = self._b
        for name, w in self._w:
            x = features.get(name)
            if x is None or not math.isfinite(x):
                raise ModelInputError(f"feature {name} is {x!r}")
            z += w * x
        return _sigmoid(z)

    __call__ = predict


def entry_p(p_up: float, side: Side) -> float:
    """The probability the entry's direction is right."""
    return p_up if side is Side.BUY else 1.0 - p_up


def size_mult_for(p: float, params: ModelParams) -> float:
    """The clipped linear ramp from p to a size multiplier (module docstring)."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p must be in [0, 1], got {p}")
    if p <= params.p_lo:
        return params.mult_lo
    if p >= params.p_hi:
        return params.mult_hi
    frac = (p - params.p_lo) / (params.p_hi - params.p_lo)
    return params.mult_lo + frac * (params.mult_hi - params.mult_lo)
