"""Builders for Lambda-format DynamoDB stream records and batches.

Start from the real shapes (``tests/events/*.json``) and vary one thing at a time:
``a_stream_record(op="REMOVE", ttl=True)``.
"""

from __future__ import annotations

import copy
import itertools
import json
from pathlib import Path
from typing import Any

from boto3.dynamodb.types import TypeSerializer

EVENTS = Path(__file__).resolve().parent.parent / "events"
TABLE_ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/Orders"
STREAM_ARN = f"{TABLE_ARN}/stream/2026-11-27T00:00:00.000"
TTL_IDENTITY = {"principalId": "dynamodb.amazonaws.com", "type": "Service"}

_serializer = TypeSerializer()
_sequence = itertools.count(1)


def load_event(name: str) -> Any:
    """A stored real event from tests/events/ (e.g. ``dynamodb-update.json``)."""
    return json.loads((EVENTS / name).read_text(encoding="utf-8"))


def ddb(item: dict[str, Any]) -> dict[str, Any]:
    """Plain Python item to DynamoDB JSON (binary values base64, as Lambda delivers them)."""
    out = {name: _serializer.serialize(value) for name, value in item.items()}
    return json.loads(json.dumps(out, default=_b64))


def _b64(value: object) -> str:
    import base64

    if isinstance(value, bytes | bytearray):
        return base64.b64encode(bytes(value)).decode()
    raise TypeError(type(value).__name__)


def next_sequence() -> str:
    """A fresh 21-digit-or-longer sequence number, increasing across the test session."""
    return str(100000000000000000000 + next(_sequence) * 100)


def a_stream_record(
    op: str = "INSERT",
    keys: dict[str, Any] | None = None,
    new: dict[str, Any] | None = None,
    old: dict[str, Any] | None = None,
    *,
    ttl: bool = False,
    view: str = "NEW_AND_OLD_IMAGES",
    sequence: str | None = None,
    created: float = 1_764_201_600,
    stream_arn: str = STREAM_ARN,
    event_id: str | None = None,
) -> dict[str, Any]:
    """One Lambda-format stream record; images default sensibly for the operation."""
    keys = keys if keys is not None else {"pk": "ORDER#42", "sk": "META"}
    if new is None and op in ("INSERT", "MODIFY"):
        new = {**keys, "status": "PLACED", "total": 10}
    if old is None and op in ("MODIFY", "REMOVE"):
        old = {**keys, "status": "NEW", "total": 10}
    if op == "INSERT":
        old = None
    if op == "REMOVE":
        new = None
    sequence = sequence or next_sequence()
    dynamodb: dict[str, Any] = {
        "ApproximateCreationDateTime": created,
        "Keys": ddb(keys),
        "SequenceNumber": sequence,
        "SizeBytes": 100,
        "StreamViewType": view,
    }
    if new is not None and view in ("NEW_IMAGE", "NEW_AND_OLD_IMAGES"):
        dynamodb["NewImage"] = ddb(new)
    if old is not None and view in ("OLD_IMAGE", "NEW_AND_OLD_IMAGES"):
        dynamodb["OldImage"] = ddb(old)
    record: dict[str, Any] = {
        "eventID": event_id or f"ev{sequence}",
        "eventName": op,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": dynamodb,
        "eventSourceARN": stream_arn,
    }
    if ttl:
        record["userIdentity"] = dict(TTL_IDENTITY)
    return record


def a_batch(*records: dict[str, Any]) -> dict[str, Any]:
    """A stream event as Lambda invokes the function with it."""
    return {"Records": [copy.deepcopy(r) for r in records]}


class FakeContext:
    """A Lambda context with a fixed amount of time left."""

    def __init__(self, remaining_ms: int = 30_000, function_name: str = "router") -> None:
        self._remaining_ms = remaining_ms
        self.function_name = function_name
        self.aws_request_id = "req-0001"
        self.invoked_function_arn = (
            f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}"
        )

    def get_remaining_time_in_millis(self) -> int:
        return self._remaining_ms


def an_order(number: int = 1, **fields: Any) -> dict[str, Any]:
    """A plain Python ``order`` item that matches its contract (``schemas/entities/order.py``).

    ``fields`` replace or add attributes; a field given as ``None`` is left out.
    """
    from decimal import Decimal

    item: dict[str, Any] = {
        "pk": f"ORDER#{number}",
        "sk": "ORDER",
        "status": "placed",
        "total": Decimal(f"{number}9.99"),
        "lines": [{"sku": f"SKU-{number}", "qty": number}],
        "tags": {"new", "web"},
        "receipt": b"\x00\x01binary",
    }
    item.update(fields)
    return {name: value for name, value in item.items() if value is not None}
