"""What every core function reads besides the state: the config and the symbol's instrument."""

from __future__ import annotations

from dataclasses import dataclass

from agents.connectors.port import Instrument
from agents.positions.config import PositionConfig


@dataclass(frozen=True, slots=True)
class Ctx:
    cfg: PositionConfig
    instrument: Instrument
