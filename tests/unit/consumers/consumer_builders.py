"""Builders for consumer tests: envelopes from the real router, SQS records around them."""

from __future__ import annotations

import base64
import itertools
from pathlib import Path
from typing import Any, cast

from support.builders import FakeContext, a_stream_record
from support.deliveries import QUEUE_ARN, raw_delivery

from consumers.runtime import BatchResponse, Envelope, SQSEvent, SQSRecord, consumer
from consumers.runtime.clients import aws_clients
from router.normalise import EntityRules, to_outbound

EVENTS = Path(__file__).resolve().parents[2] / "events"
_message_ids = itertools.count(1)


def envelope_fixture(version: str = "1") -> str:
    """The stored envelope of a published version, as JSON text."""
    return (EVENTS / f"envelope-v{version}.json").read_text(encoding="utf-8")


def an_envelope(op: str = "MODIFY", **record: Any) -> str:
    """Envelope JSON text made by the real router from a stream record."""
    return to_outbound(a_stream_record(op, **record), EntityRules()).body


def an_envelope_with_attributes(op: str = "MODIFY", **record: Any) -> tuple[str, dict[str, Any]]:
    """Envelope text and the SNS message attributes the router publishes with it."""
    out = to_outbound(a_stream_record(op, **record), EntityRules())
    return out.body, out.attributes


def an_sqs_record(
    body: str,
    *,
    message_id: str | None = None,
    receive_count: int = 1,
    attributes: dict[str, Any] | None = None,
) -> SQSRecord:
    """One SQS message as Lambda hands it to the function (raw delivery attributes optional)."""
    record = raw_delivery(
        body,
        attributes,
        message_id=message_id or f"msg-{next(_message_ids):04d}",
        receive_count=receive_count,
        queue_arn=QUEUE_ARN,
    )
    return cast("SQSRecord", record)


def an_sqs_event(*records: SQSRecord) -> SQSEvent:
    """An SQS batch event."""
    return {"Records": list(records)}


def a_binary_attribute(data: bytes) -> dict[str, Any]:
    """A binary SQS message attribute as Lambda delivers it."""
    return {"dataType": "Binary", "binaryValue": base64.b64encode(data).decode()}


def failed_ids(response: BatchResponse) -> list[str]:
    """The message ids a partial batch response returns to the queue."""
    return [f["itemIdentifier"] for f in response["batchItemFailures"]]


def run_consumer(seen: list[Envelope], *records: SQSRecord, **options: Any) -> BatchResponse:
    """One batch through a ``@consumer(**options)`` whose function appends to ``seen``."""
    handler = consumer(**options)(seen.append)
    return handler(an_sqs_event(*records), FakeContext())


class DynamoDBRequests:
    """Counts the DynamoDB requests the runtime's shared client sends, by operation."""

    def __init__(self) -> None:
        self.operations: list[str] = []
        aws_clients().dynamodb.meta.events.register("before-send.dynamodb.*", self._sent)

    def _sent(self, request: Any, **_: Any) -> None:
        self.operations.append(request.headers["X-Amz-Target"].decode().split(".")[-1])
