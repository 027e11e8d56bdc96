"""Stream and queue records converted to the exact shape Lambda hands a function.

DynamoDB stream records as boto3 returns them (from moto or AWS) are not what
Lambda delivers: botocore decodes binary attributes to ``bytes`` and
``ApproximateCreationDateTime`` to a ``datetime``, and moto writes
``awsRegion: us-east-1`` and ``eventVersion: 1.0`` whatever the stream. Lambda's
event has base64 text, epoch seconds, the stream ARN and region, and a
``userIdentity`` on TTL deletions.
https://docs.aws.amazon.com/lambda/latest/dg/with-ddb.html
https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_streams_StreamRecord.html
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Mapping
from typing import Any, Final

from hubcommon.limits import DYNAMODB_TTL_IDENTITY_TYPE, DYNAMODB_TTL_PRINCIPAL

# Lambda's DynamoDB events carry eventVersion "1.1" (sam local generate-event dynamodb update).
STREAM_EVENT_VERSION: Final = "1.1"
TTL_IDENTITY: Final = {"type": DYNAMODB_TTL_IDENTITY_TYPE, "principalId": DYNAMODB_TTL_PRINCIPAL}


def _b64(value: Any) -> str:
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    # Already text (an endpoint that hands back base64, or a hand-written record).
    return str(value)


def to_lambda_attribute(value: Mapping[str, Any]) -> dict[str, Any]:
    """One DynamoDB-JSON attribute value with binary as base64 text, recursively."""
    if len(value) != 1:
        # Not a single-key attribute value: pass it on untouched, the router decides.
        return dict(value)
    ((kind, inner),) = value.items()
    if kind == "B":
        return {"B": _b64(inner)}
    if kind == "BS":
        return {"BS": [_b64(v) for v in inner]}
    if kind == "M" and isinstance(inner, Mapping):
        return {"M": to_lambda_image(inner)}
    if kind == "L" and isinstance(inner, list):
        return {"L": [to_lambda_attribute(v) if isinstance(v, Mapping) else v for v in inner]}
    return {kind: inner}


def to_lambda_image(image: Mapping[str, Any]) -> dict[str, Any]:
    """An item image (Keys, NewImage, OldImage) in Lambda's event encoding."""
    return {
        name: to_lambda_attribute(v) if isinstance(v, Mapping) else v for name, v in image.items()
    }


def epoch_seconds(value: Any) -> int:
    """ApproximateCreationDateTime as Lambda sends it: whole epoch seconds, rounded down."""
    if isinstance(value, dt.datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        return int(moment.timestamp())
    return int(float(value))


def region_of(arn: str) -> str:
    """The region field of an ARN."""
    return arn.split(":")[3]


def to_lambda_stream_record(
    raw: Mapping[str, Any], stream_arn: str, *, ttl_expiry: bool = False
) -> dict[str, Any]:
    """One GetRecords record as it appears in ``event["Records"]`` of a Lambda invocation."""
    source = raw.get("dynamodb") or {}
    body: dict[str, Any] = {}
    if "ApproximateCreationDateTime" in source:
        body["ApproximateCreationDateTime"] = epoch_seconds(source["ApproximateCreationDateTime"])
    for image in ("Keys", "NewImage", "OldImage"):
        if image in source:
            body[image] = to_lambda_image(source[image])
    for name in ("SequenceNumber", "SizeBytes", "StreamViewType"):
        if name in source:
            body[name] = source[name]
    record: dict[str, Any] = {
        "eventID": raw["eventID"],
        "eventName": raw["eventName"],
        "eventVersion": STREAM_EVENT_VERSION,
        "eventSource": "aws:dynamodb",
        "awsRegion": region_of(stream_arn),
        "dynamodb": body,
        "eventSourceARN": stream_arn,
    }
    identity = raw.get("userIdentity")
    if ttl_expiry:
        identity = dict(TTL_IDENTITY)
    if identity:
        record["userIdentity"] = {"type": identity["type"], "principalId": identity["principalId"]}
    return record


def sequence_of(record: Mapping[str, Any]) -> str:
    """The record's SequenceNumber (Lambda's itemIdentifier for streams)."""
    return str(record["dynamodb"]["SequenceNumber"])


def to_lambda_sqs_record(message: Mapping[str, Any], queue_arn: str) -> dict[str, Any]:
    """One ReceiveMessage message as it appears in an SQS-triggered invocation.

    https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html (example event)
    """
    attributes = {k: str(v) for k, v in (message.get("Attributes") or {}).items()}
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message.get("Body", ""),
        "attributes": attributes,
        "messageAttributes": {
            name: _lambda_message_attribute(value)
            for name, value in (message.get("MessageAttributes") or {}).items()
        },
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region_of(queue_arn),
    }


def _lambda_message_attribute(value: Mapping[str, Any]) -> dict[str, Any]:
    """SQS API attribute (StringValue, BinaryValue) to Lambda's (stringValue, binaryValue)."""
    out: dict[str, Any] = {
        "stringListValues": list(value.get("StringListValues") or []),
        "binaryListValues": [_b64(v) for v in value.get("BinaryListValues") or []],
        "dataType": value.get("DataType", "String"),
    }
    if "StringValue" in value:
        out["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        out["binaryValue"] = _b64(value["BinaryValue"])
    return out
