"""DynamoDB capacity units by AWS's published rules, for requests moto does not price.

moto answers ``ReturnConsumedCapacity`` with fixed figures, not with the item's size
(moto/dynamodb/responses.py, moto 5.2.5): ``include_consumed_capacity`` gives 1.0 for
PutItem and DeleteItem and 0.5 for GetItem whatever the item or ``ConsistentRead``,
UpdateItem always answers 0.5, and a failed conditional write is an error response with
no figure at all. So the benchmark computes the units itself from the sizes of the items
involved:

- item size: attribute names plus values, as "DynamoDB item sizes and formats" gives it
  https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html
- reads and writes: one read unit per 4 KB of a strongly consistent read (half that for an
  eventually consistent one), one write unit per 1 KB written, each rounded up; PutItem and
  UpdateItem are charged for the larger of the item before and after; reading or deleting an
  item that does not exist still costs the minimum; a write whose condition fails still
  consumes write units
  https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/read-write-operations.html

For a failed conditional write this module charges the size of the item already stored
(at least one unit). Every item the benchmark writes is small enough that the new and the
stored item round to the same number of units, so the choice changes no figure it prints.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

READ_UNIT_BYTES = 4 * 1024
WRITE_UNIT_BYTES = 1024
LIST_OR_MAP_OVERHEAD = 3
ELEMENT_OVERHEAD = 1


def number_size(text: str) -> int:
    """Bytes of a Number: one per two significant digits, plus one."""
    mantissa = text.lower().lstrip("+-").split("e", 1)[0]
    digits = mantissa.replace(".", "").strip("0") or "0"
    return (len(digits) + 1) // 2 + 1


def value_size(value: Mapping[str, Any]) -> int:
    """Bytes of one attribute value in DynamoDB's JSON shape (``{"S": ...}``), its name excluded."""
    ((kind, data),) = value.items()
    size = _SIZES.get(kind)
    if size is None:
        raise ValueError(f"unknown attribute type {kind!r}")
    return size(data)


_SIZES: dict[str, Callable[[Any], int]] = {
    "S": lambda text: len(str(text).encode()),
    "N": lambda text: number_size(str(text)),
    "B": len,  # raw bytes, not their base64 text
    "BOOL": lambda _: 1,
    "NULL": lambda _: 1,
    "SS": lambda texts: sum(len(str(t).encode()) for t in texts),
    "NS": lambda numbers: sum(number_size(str(n)) for n in numbers),
    "BS": lambda blobs: sum(len(b) for b in blobs),
    "L": lambda items: LIST_OR_MAP_OVERHEAD + sum(value_size(e) + ELEMENT_OVERHEAD for e in items),
    "M": lambda members: (
        LIST_OR_MAP_OVERHEAD
        + sum(len(name.encode()) + value_size(e) + ELEMENT_OVERHEAD for name, e in members.items())
    ),
}


def item_size(item: Mapping[str, Mapping[str, Any]] | None) -> int:
    """Bytes of an item (0 for no item): attribute names plus values."""
    if not item:
        return 0
    return sum(len(name.encode()) + value_size(value) for name, value in item.items())


def read_units(size: int, *, consistent: bool) -> float:
    """Read units of one GetItem of an item of ``size`` bytes (a missing item still costs one)."""
    units = max(1, math.ceil(size / READ_UNIT_BYTES))
    return float(units) if consistent else units / 2


def write_units(size: int) -> float:
    """Write units of one write whose charged item is ``size`` bytes (at least one)."""
    return float(max(1, math.ceil(size / WRITE_UNIT_BYTES)))
