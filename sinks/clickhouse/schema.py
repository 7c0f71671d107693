"""Check and convert rows against a table's ClickHouse column types before they are batched.

A bad row is refused here, with the table and column named, so it can go to a dead-letter list
instead of failing a whole insert later. Money is strict: a float is never accepted for a Decimal
column (floats never touch money); a value with more fractional digits than the scale is refused
rather than rounded.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from sinks.clickhouse.backend import ClickHouseBackend, fetch_column_types

Convert = Callable[[Any], Any]


class RowError(ValueError):
    """A row does not fit its table; the message names table and column."""


def _int_range(ch_type: str) -> tuple[int, int]:
    bits = int(ch_type.removeprefix("U").removeprefix("Int"))
    if ch_type.startswith("U"):
        return 0, 2**bits - 1
    return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1


def _integer(ch_type: str) -> Convert:
    lo, hi = _int_range(ch_type)

    def convert(v: Any) -> int:
        if isinstance(v, bool) and ch_type == "UInt8":
            return int(v)
        if not isinstance(v, int) or isinstance(v, bool):
            raise ValueError(f"expected an integer, got {type(v).__name__} {v!r}")
        if not lo <= v <= hi:
            raise ValueError(f"{v} is outside {ch_type} [{lo}, {hi}]")
        return v

    return convert


def _float(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise ValueError(f"expected a float, got {type(v).__name__} {v!r}")
    return float(v)


def _string(v: Any) -> str:
    if not isinstance(v, str):
        raise ValueError(f"expected a string, got {type(v).__name__} {v!r}")
    return v


def _date(v: Any) -> date:
    if isinstance(v, date):
        return v
    if isinstance(v, str):
        return date.fromisoformat(v)
    raise ValueError(f"expected a date, got {type(v).__name__} {v!r}")


def _fraction_digits(d: Decimal) -> int:
    # from the digits, not quantize(): the default context (28 digits) is narrower than Decimal(38,S)
    _, digits, exponent = d.as_tuple()
    assert isinstance(exponent, int)  # finite, checked by the caller
    text = "".join(map(str, digits))
    if not text.strip("0"):
        return 0  # zero, however it is written
    trailing_zeros = len(text) - len(text.rstrip("0"))
    return max(0, -exponent - trailing_zeros)


def _check_digits_slow(d: Decimal, v: Any, scale: int, max_int_digits: int) -> None:
    if not d.is_finite():
        raise ValueError(f"not a finite decimal: {v!r}")
    if _fraction_digits(d) > scale:
        raise ValueError(f"{v} has more than {scale} decimal places; quantize it first")
    if d and d.adjusted() >= max_int_digits:
        raise ValueError(f"{v} has more than {max_int_digits} integer digits")


def _decimal(ch_type: str) -> Convert:
    precision, scale = (int(p) for p in ch_type[len("Decimal(") : -1].split(","))
    max_int_digits = precision - scale

    def convert(v: Any) -> Decimal:
        if type(v) is Decimal:
            d = v
        elif isinstance(v, float):
            raise ValueError(f"a float ({v!r}) is not accepted for money; pass a Decimal or a string")
        elif isinstance(v, bool) or not isinstance(v, Decimal | int | str):
            raise ValueError(f"expected a Decimal, got {type(v).__name__} {v!r}")
        else:
            try:
                d = Decimal(v)
            except InvalidOperation:
                raise ValueError(f"not a decimal: {v!r}") from None
        text = str(d)  # cheaper than as_tuple(); plain notation for every common value
        if "E" in text or not text[-1].isdigit():  # exponent notation, NaN, Infinity
            _check_digits_slow(d, v, scale, max_int_digits)
            return d
        whole, _, fraction = text.lstrip("-").partition(".")
        if len(fraction) > scale and len(fraction.rstrip("0")) > scale:
            raise ValueError(f"{v} has more than {scale} decimal places; quantize it first")
        if len(whole) > max_int_digits and len(whole.lstrip("0")) > max_int_digits:
            raise ValueError(f"{v} has more than {max_int_digits} integer digits")
        return d

    return convert


def converter(ch_type: str) -> Convert:
    """Return the checking converter for one ClickHouse type (Nullable and Array handled)."""
    if ch_type.startswith("Nullable("):
        inner = converter(ch_type[len("Nullable(") : -1])
        return lambda v: None if v is None else inner(v)
    if ch_type.startswith("LowCardinality("):
        return converter(ch_type[len("LowCardinality(") : -1])
    if ch_type.startswith("Array("):
        element = converter(ch_type[len("Array(") : -1])

        def array(v: Any) -> list[Any]:
            if not isinstance(v, list | tuple):
                raise ValueError(f"expected a list, got {type(v).__name__} {v!r}")
            return [element(x) for x in v]

        return array
    if ch_type.startswith("Decimal("):
        return _decimal(ch_type)
    if ch_type.startswith(("Int", "UInt")):
        return _integer(ch_type)
    if ch_type.startswith("Float"):
        return _float
    if ch_type in ("String", "UUID") or ch_type.startswith("Enum"):
        return _string
    if ch_type == "Date":
        return _date
    raise ValueError(f"no row converter for ClickHouse type {ch_type}")


class TableSchema:
    """The columns of one table and a converter per column."""

    def __init__(self, table: str, types: Mapping[str, str]) -> None:
        self.table = table
        self.columns: list[str] = list(types)
        self.types = dict(types)
        self._names = set(types)
        self._plan = [(n, converter(t), t.startswith("Nullable(")) for n, t in self.types.items()]

    def row_values(self, row: Mapping[str, Any]) -> tuple[Any, ...]:
        """Return the row's values in column order, converted; RowError names what is wrong."""
        if row.keys() != self._names:
            self._explain_columns(row)
        out = []
        for name, convert, nullable in self._plan:
            value = row[name]
            if value is None and not nullable:
                raise RowError(f"{self.table}.{name} ({self.types[name]}): NULL in a non-Nullable column")
            try:
                out.append(convert(value))
            except (ValueError, TypeError, ArithmeticError) as exc:
                raise RowError(f"{self.table}.{name} ({self.types[name]}): {exc}") from None
        return tuple(out)

    def _explain_columns(self, row: Mapping[str, Any]) -> None:
        unknown = [k for k in row if k not in self.types]
        if unknown:
            raise RowError(f"{self.table}: unknown column(s) {', '.join(sorted(unknown))}")
        missing = [c for c in self.columns if c not in row]
        if missing:
            raise RowError(f"{self.table}: missing column(s) {', '.join(missing)}")


def load_schema(backend: ClickHouseBackend, table: str) -> TableSchema:
    """Read a table's columns from the backend (a clear error if the table is missing)."""
    return TableSchema(table, fetch_column_types(backend, table))


def columnar(rows: Sequence[tuple[Any, ...]], width: int) -> list[list[Any]]:
    """Transpose row tuples into one list per column."""
    return [list(col) for col in zip(*rows, strict=True)] if rows else [[] for _ in range(width)]
