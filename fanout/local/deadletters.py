"""Which delivered messages a consumer dead-lettered itself, for the hub's live counters.

The consumer runtime sends a message it can never process to its DLQ itself and then
reports it done (``consumers.runtime.deadletter``), so the mapping deletes it from the
queue as it does a processed one. Lambda sees only the batch response: a message
missing from ``batchItemFailures`` is a success to the event source mapping.
https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-errorhandling.html#services-sqs-batchfailurereporting
To count it as dead-lettered rather than processed, this watches the functions'
``SendMessage``/``SendMessageBatch`` calls (a botocore ``before-call`` handler, like
``fanout.local.access``) and keeps the source message id each dead letter's
``fanout-origin`` attribute names.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Mapping
from typing import Any, Final

from consumers.runtime.deadletter import ERROR_ATTRIBUTE_PREFIX
from fanout.local.access import API_PARAMS

ORIGIN_ATTRIBUTE: Final = f"{ERROR_ATTRIBUTE_PREFIX}origin"


class DeadLetterWatch:
    """Source message ids the runtime sent to a DLQ, per consumer (thread-safe)."""

    def __init__(self) -> None:
        self._origins: dict[str, set[str]] = {}
        self._lock = threading.Lock()

    def before_call(self, model: Any, context: Mapping[str, Any], **_: Any) -> None:
        """botocore ``before-call``: note the origin of each dead letter being sent."""
        if model.service_model.endpoint_prefix != "sqs":
            return
        params = context.get(API_PARAMS) or {}
        if model.name == "SendMessage":
            self.add(origin_of(params.get("MessageAttributes")))
        elif model.name == "SendMessageBatch":
            for entry in params.get("Entries") or []:
                self.add(origin_of(entry.get("MessageAttributes")))

    def add(self, origin: tuple[str, str] | None) -> None:
        """Record one (consumer, source message id)."""
        if origin is None:
            return
        consumer, message_id = origin
        with self._lock:
            self._origins.setdefault(consumer, set()).add(message_id)

    def of(self, consumer: str) -> frozenset[str]:
        """The source message ids ``consumer`` dead-lettered so far."""
        with self._lock:
            return frozenset(self._origins.get(consumer, ()))


def origin_of(attributes: Mapping[str, Any] | None) -> tuple[str, str] | None:
    """(consumer, source message id) of a dead letter's ``fanout-origin``; None for another message."""
    value = ((attributes or {}).get(ORIGIN_ATTRIBUTE) or {}).get("StringValue")
    if not isinstance(value, str):
        return None
    try:
        origin = json.loads(value)
    except ValueError:
        return None
    if not isinstance(origin, dict):
        return None
    consumer, message_id = origin.get("consumer"), origin.get("messageId")
    if isinstance(consumer, str) and isinstance(message_id, str):
        return consumer, message_id
    return None


def processed(succeeded: Iterable[str], dead_lettered: frozenset[str]) -> int:
    """Messages done and not dead-lettered: what the live view calls processed."""
    return sum(1 for identifier in succeeded if identifier not in dead_lettered)
