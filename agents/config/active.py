"""Read-copy-update of the active bundle (spec §0: every service reads ``config_active.rev`` and
hot-reloads on ``cfg:events``).

A reader takes :meth:`ActiveConfig.current` ONCE per unit of work (one decision) and uses that
snapshot throughout: a reload builds and validates a whole new :class:`ActiveBundle` off to the
side, then swaps one reference. So a decision sees the old bundle or the new one, never a mix, and
records the rev it used. The snapshot is immutable (frozen pydantic models), so holding it while a
reload happens is safe; the old one is simply dropped when its last reader is done.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from agents.config.bundle import Bundle
from agents.features.config import FeatureConfig
from agents.positions.config import PositionConfig
from agents.strategy.config import StrategyConfig


class NoActiveConfig(RuntimeError):
    """Nothing was activated yet (``cfg:{active}`` is empty)."""


@dataclass(frozen=True, slots=True)
class ActiveBundle:
    bundle_id: str
    rev: str
    strategy: StrategyConfig
    features: FeatureConfig  # config_rev == rev
    positions: PositionConfig | None = None  # S6's policy, when the bundle has one

    @classmethod
    def of(cls, bundle: Bundle) -> ActiveBundle:
        return cls(bundle.bundle_id, bundle.rev, bundle.strategy, bundle.feature_config(), bundle.positions)


class ActiveConfig:
    """One reference to the active bundle, replaced whole by :meth:`swap`."""

    def __init__(self, first: ActiveBundle | None = None) -> None:
        self._current = first
        self._set = asyncio.Event()
        if first is not None:
            self._set.set()
        self.swaps = 0

    def current(self) -> ActiveBundle:
        snap = self._current  # the one read a decision makes
        if snap is None:
            raise NoActiveConfig("no config bundle is active yet: `chimera config activate BUNDLE_ID`")
        return snap

    def peek(self) -> ActiveBundle | None:
        return self._current

    def swap(self, new: ActiveBundle) -> ActiveBundle | None:
        """Make ``new`` the active bundle; return the one it replaced. A same-rev swap is a no-op."""
        old = self._current
        if old is not None and (old.bundle_id, old.rev) == (new.bundle_id, new.rev):
            return old
        self._current = new
        self.swaps += 1
        self._set.set()
        return old

    async def wait(self) -> ActiveBundle:
        """The active bundle, waiting for the first activation if there is none yet."""
        await self._set.wait()
        return self.current()
