"""What every topic schema shares: the frozen, strict base model and the field types of the contracts.

Money (prices, quantities, fees, PnL) is ``Decimal`` and travels as a JSON string, so no float ever
touches it on the wire (DESIGN §1.5). A JSON *number* in a money field is refused rather than read:
a producer that sends ``0.1`` as a number has already passed it through a float. Whole numbers are
accepted (``"qty": 3`` is exact). Features and ratios are floats, finite only: a missing value is
``null``, never ``NaN`` (which is not JSON).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal, Self

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

from chimera.model import ClientOrderId, IntentId, SignalId, Symbol


def _no_float(value: object) -> object:
    if isinstance(value, float):
        raise ValueError('money travels as a decimal string (e.g. "0.1"), not a float or JSON number')
    return value


Money = Annotated[Decimal, BeforeValidator(_no_float), Field(allow_inf_nan=False)]
PositiveMoney = Annotated[Decimal, BeforeValidator(_no_float), Field(allow_inf_nan=False, gt=0)]
NonNegMoney = Annotated[Decimal, BeforeValidator(_no_float), Field(allow_inf_nan=False, ge=0)]

FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]
Ratio = Annotated[float, Field(allow_inf_nan=False, ge=0, le=1)]
# event times are int64 downstream (S2's NumPy columns, ClickHouse): one past it would crash, not refuse
MAX_EPOCH_MS = 2**63 - 1
EpochMs = Annotated[int, Field(ge=0, le=MAX_EPOCH_MS, description="event time, epoch ms")]

# a name with no whitespace; symbols are the venue's spelling (BTCUSDT)
Name = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^\S+$")]
SymbolField = Annotated[Symbol, StringConstraints(min_length=1, max_length=40, pattern=r"^\S+$")]
SignalIdField = Annotated[SignalId, StringConstraints(min_length=1, max_length=200)]
IntentIdField = Annotated[IntentId, StringConstraints(min_length=1, max_length=200)]
# Binance's rule for newClientOrderId (chimera.model.ids keeps to it)
ClientOrderIdField = Annotated[ClientOrderId, StringConstraints(pattern=r"^[.A-Z:/a-z0-9_-]{1,36}$")]
# event kinds are UPPER_SNAKE so sinks and dashboards can group on them
Kind = Annotated[str, StringConstraints(pattern=r"^[A-Z][A-Z0-9_]*$", max_length=64)]


class Contract(BaseModel):
    """A message on a topic: frozen (events are facts), no unknown fields (a typo is an error)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    v: Literal[1] = 1

    def encode(self) -> bytes:
        """The JSON wire form."""
        return self.model_dump_json().encode()

    @classmethod
    def decode(cls, data: bytes | str) -> Self:
        """Parse and validate the wire form (raises pydantic's ValidationError)."""
        return cls.model_validate_json(data)
