"""The execution styles of ``OrderIntent.exec``, one module each; ``STYLES`` maps the spelling."""

from agents.router.styles.base import Style
from agents.router.styles.guard import GuardStop
from agents.router.styles.maker_taker import MakerTaker
from agents.router.styles.market import Market
from agents.router.styles.oco import Oco
from agents.router.styles.sl_tp import SlTp
from agents.router.styles.twap import Twap


class Passive(Style):
    """Orders adopted after a restart: reported and cancellable, but the router decides nothing more
    for them (the strategy or the reconciler does)."""

    name = "passive"


STYLES: dict[str, Style] = {s.name: s for s in (Market(), MakerTaker(), Twap(), Oco(), GuardStop(), SlTp())}
PASSIVE = Passive()

__all__ = ["PASSIVE", "STYLES", "Style", "Twap"]
