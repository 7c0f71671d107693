"""SimVenue: a deterministic paper exchange (spot + USDT-M perpetuals) driven by event time."""

from agents.connectors.simvenue.config import InstrumentSpec, SimVenueConfig
from agents.connectors.simvenue.engine import SimEvent
from agents.connectors.simvenue.exchange import SimExchange
from agents.connectors.simvenue.funding import FundingPayment
from agents.connectors.simvenue.venue import SimVenue

__all__ = ["FundingPayment", "InstrumentSpec", "SimEvent", "SimExchange", "SimVenue", "SimVenueConfig"]
