"""Read and write envelope JSON without losing a digit.

DynamoDB numbers carry up to 38 significant digits; a float parser would round
them. ``loads`` turns every non-integer number into ``Decimal`` (integers are
already exact in Python). The stdlib encoder cannot emit a ``Decimal`` as a
number, and pydantic's JSON mode writes it as a string; both would change what
the producer published, so ``dumps`` writes what ``loads`` read, exactly.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    # Types only: reading and writing JSON needs no model, so a caller that only
    # parses or writes text does not pay for importing pydantic.
    from schemas.v1 import EnvelopeV1, Json


def loads(text: str | bytes) -> Any:
    """Parse JSON with exact numbers: integers as ``int``, the rest as ``Decimal``."""
    return json.loads(text, parse_float=Decimal)


def dumps(value: Json) -> str:
    """Compact JSON text; integers and decimals keep every digit. Raises ``ValueError`` for NaN/inf."""
    if isinstance(value, list):
        return "[" + ",".join(dumps(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{dumps(key)}:{dumps(item)}" for key, item in value.items()) + "}"
    return _scalar(value)


def _scalar(value: object) -> str:
    if value is None or isinstance(value, bool | str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{value} is not a JSON number")
        return str(value)
    raise TypeError(f"{type(value).__name__} is not a JSON value")


def rfc3339(moment: datetime) -> str:
    """UTC, 'Z', with a fraction only when there is one (milliseconds if that is exact)."""
    utc = moment.astimezone(UTC)
    text = utc.strftime("%Y-%m-%dT%H:%M:%S")
    if utc.microsecond == 0:
        return text + "Z"
    if utc.microsecond % 1000 == 0:
        return f"{text}.{utc.microsecond // 1000:03d}Z"
    return f"{text}.{utc.microsecond:06d}Z"


def envelope_json(envelope: EnvelopeV1) -> str:
    """The envelope (newest version, data inline) as compact JSON text with exact numbers."""
    header = envelope.model_dump(mode="json", exclude={"data", "dataref"})
    header["time"] = rfc3339(envelope.time)
    text = json.dumps(header, ensure_ascii=False, separators=(",", ":"))
    if envelope.data is None:
        # The model guarantees data XOR dataref, so a pointer always has its dataref.
        return text[:-1] + ',"dataref":' + dumps(envelope.dataref) + "}"
    data: Json = envelope.data.model_dump(mode="python")
    return text[:-1] + ',"data":' + dumps(data) + "}"
