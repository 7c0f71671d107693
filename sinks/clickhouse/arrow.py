"""Columnar Python data -> a pyarrow table typed like the target ClickHouse columns (chdb's fast path).

chdb reads a pyarrow table in place through its ``Python()`` table function, so an insert costs
one Arrow build plus one ``INSERT ... SELECT``; typing the Arrow columns from the table schema keeps
Decimals exact (decimal128) instead of letting pyarrow guess.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

import pyarrow as pa

from sinks.clickhouse.backend import ClickHouseError, Columns

_SCALARS: dict[str, pa.DataType] = {
    "String": pa.string(),
    "UUID": pa.string(),
    "Int8": pa.int8(),
    "Int16": pa.int16(),
    "Int32": pa.int32(),
    "Int64": pa.int64(),
    "UInt8": pa.uint8(),
    "UInt16": pa.uint16(),
    "UInt32": pa.uint32(),
    "UInt64": pa.uint64(),
    "Float32": pa.float32(),
    "Float64": pa.float64(),
    "Date": pa.date32(),
    "Bool": pa.bool_(),
}


def arrow_type(ch_type: str) -> pa.DataType | None:
    """Return the Arrow type for a ClickHouse type, or None to let pyarrow infer it."""
    for wrapper in ("Nullable(", "LowCardinality("):
        if ch_type.startswith(wrapper):
            return arrow_type(ch_type[len(wrapper) : -1])
    if ch_type in _SCALARS:
        return _SCALARS[ch_type]
    if ch_type.startswith("Array("):
        element = arrow_type(ch_type[len("Array(") : -1])
        return None if element is None else pa.list_(element)
    if ch_type.startswith("Decimal("):
        precision, scale = (int(p) for p in ch_type[len("Decimal(") : -1].split(","))
        return pa.decimal128(precision, scale) if precision <= 38 else pa.decimal256(precision, scale)
    return None


def _as_decimals(values: Sequence[Any], target: pa.DataType) -> list[Any]:
    """Turn money given as text (JSON transports carry it so) into Decimal, nested lists too."""
    if pa.types.is_list(target):
        return [None if v is None else _as_decimals(v, target.value_type) for v in values]
    return [v if v is None or isinstance(v, Decimal) else _parse_decimal(v) for v in values]


def _parse_decimal(value: Any) -> Decimal:
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"not a decimal: {value!r}") from None


def _decimal_array(values: Sequence[Any], target: pa.DataType) -> pa.Array:
    try:
        return pa.array(values, type=target)  # Decimal objects: pyarrow's builder is fast
    except (pa.ArrowTypeError, TypeError):
        if pa.types.is_decimal(target):
            try:  # text from a JSON transport: Arrow parses it exactly, far faster than Decimal()
                return pa.array(values, type=pa.string()).cast(target)
            except (pa.ArrowTypeError, pa.ArrowInvalid, TypeError):
                pass  # mixed or malformed values: the slow path names the bad one
        return pa.array(_as_decimals(values, target), type=target)


def _has_decimal(target: pa.DataType) -> bool:
    if pa.types.is_list(target):
        return _has_decimal(target.value_type)
    return bool(pa.types.is_decimal(target))


def build_table(table: str, columns: Sequence[str], data: Columns, types: dict[str, str]) -> pa.Table:
    """Build the Arrow table; an unconvertible value is a ClickHouseError naming table and column."""
    if len(columns) != len(data):
        raise ClickHouseError(f"{table}: {len(columns)} column names but {len(data)} columns of data")
    arrays = []
    for name, values in zip(columns, data, strict=True):
        if name not in types:
            raise ClickHouseError(f"{table}: unknown column {name!r}")
        target = arrow_type(types[name])
        try:
            if target is not None and _has_decimal(target):
                arrays.append(_decimal_array(values, target))
            else:
                arrays.append(pa.array(values, type=target))
        except (pa.ArrowException, ValueError, TypeError, ArithmeticError) as exc:
            raise ClickHouseError(f"{table}.{name} ({types[name]}): {exc}") from exc
    return pa.Table.from_arrays(arrays, names=list(columns))
