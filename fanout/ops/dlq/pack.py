"""SendMessageBatch entries for redriven messages: attributes kept, at most 10 and 256 KiB per call."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from hubcommon.limits import SQS_MAX_MESSAGE_BYTES, SQS_SEND_BATCH_MAX_ENTRIES


def sendable_attributes(message: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The received message attributes in SendMessage's shape (every one kept)."""
    out: dict[str, dict[str, Any]] = {}
    for name, value in (message.get("MessageAttributes") or {}).items():
        attribute: dict[str, Any] = {"DataType": value.get("DataType", "String")}
        if "StringValue" in value:
            attribute["StringValue"] = value["StringValue"]
        elif "BinaryValue" in value:
            attribute["BinaryValue"] = value["BinaryValue"]
        else:
            continue
        out[name] = attribute
    return out


def _size(message: Mapping[str, Any]) -> int:
    size = len(str(message.get("Body", "")).encode("utf-8"))
    for name, value in (message.get("MessageAttributes") or {}).items():
        payload = value.get("StringValue") or value.get("BinaryValue") or ""
        size += len(name) + len(value.get("DataType", "")) + len(payload)
    return size


def pack_for_send(messages: Sequence[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """SendMessageBatch groups: at most 10 entries and 256 KiB per call, order kept."""
    batches: list[list[dict[str, Any]]] = []
    current: list[dict[str, Any]] = []
    current_bytes = 0
    for message in messages:
        size = _size(message)
        if current and (
            len(current) == SQS_SEND_BATCH_MAX_ENTRIES
            or current_bytes + size > SQS_MAX_MESSAGE_BYTES
        ):
            batches.append(current)
            current, current_bytes = [], 0
        current.append(message)
        current_bytes += size
    if current:
        batches.append(current)
    return batches


def send_entry(index: int, message: Mapping[str, Any], *, fifo: bool) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "Id": str(index),
        "MessageBody": message["Body"],
        "MessageAttributes": sendable_attributes(message),
    }
    if fifo:
        system = message.get("Attributes") or {}
        entry["MessageGroupId"] = system.get("MessageGroupId") or "redrive"
        entry["MessageDeduplicationId"] = (
            system.get("MessageDeduplicationId")
            or hashlib.sha256(str(message["MessageId"]).encode()).hexdigest()
        )
    return entry
