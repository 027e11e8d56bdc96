"""One SQS message to the producer's document: unwrap SNS, spot claim-check pointers.

Pure functions, no I/O. A message reaches a consumer queue in one of two shapes
(https://docs.aws.amazon.com/sns/latest/dg/sns-sqs-as-subscriber.html):

- raw message delivery: the SQS body *is* the published message and SNS message
  attributes arrive as SQS message attributes;
- the default: the body is an SNS notification JSON document whose ``Message``
  is the published message and whose ``MessageAttributes`` carry the attributes
  (https://docs.aws.amazon.com/sns/latest/dg/sns-message-and-json-formats.html).

The published message is an envelope, or a pointer written by the AWS SNS/SQS
Extended Client Libraries (https://docs.aws.amazon.com/sns/latest/dg/large-message-payloads.html):
a JSON array ``["software.amazon.payloadoffloading.PayloadS3Pointer",
{"s3BucketName": ..., "s3Key": ...}]`` with the reserved message attribute
``ExtendedPayloadSize`` (``SQSLargePayloadSize`` in older clients).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import DecimalException
from typing import Any, Final

from consumers.runtime.errors import InvalidMessageError
from consumers.runtime.events import SQSRecord
from schemas import codec

# Pointer class names written by the extended client libraries: the current
# payload-offloading library, and the original SQS Java client's own class.
EXTENDED_POINTER_CLASSES: Final = frozenset(
    {
        "software.amazon.payloadoffloading.PayloadS3Pointer",
        "com.amazon.sqs.javamessaging.MessageS3Pointer",
    }
)
# Reserved attributes that mark an offloaded payload (current, legacy).
EXTENDED_SIZE_ATTRIBUTES: Final = ("ExtendedPayloadSize", "SQSLargePayloadSize")


@dataclass(frozen=True, slots=True)
class S3Location:
    """An object in S3 that holds a message's real payload."""

    bucket: str
    key: str

    @classmethod
    def from_uri(cls, uri: str) -> S3Location:
        """Parse ``s3://bucket/key``; raises ``InvalidMessageError`` for anything else."""
        scheme, sep, rest = uri.partition("://")
        bucket, slash, key = rest.partition("/")
        if scheme != "s3" or not sep or not bucket or not slash or not key:
            raise InvalidMessageError("dataref is not an s3://bucket/key URI")
        return cls(bucket, key)

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


@dataclass(frozen=True, slots=True)
class Delivery:
    """One SQS message, unwrapped: what the producer published and its attributes."""

    message_id: str
    receive_count: int
    body: str
    document: Any
    attributes: Mapping[str, str] = field(default_factory=dict)
    via_sns: bool = False


def receive_count(record: SQSRecord) -> int:
    """How many times SQS has handed this message out (1 on first delivery)."""
    try:
        return int(record.get("attributes", {}).get("ApproximateReceiveCount", "1"))
    except ValueError:
        return 1


def _sqs_attributes(record: SQSRecord) -> dict[str, str]:
    return {
        name: value["stringValue"]
        for name, value in (record.get("messageAttributes") or {}).items()
        if "stringValue" in value
    }


def _sns_attributes(notification: Mapping[str, Any]) -> dict[str, str]:
    attributes = notification.get("MessageAttributes")
    if not isinstance(attributes, dict):
        return {}
    return {
        name: value["Value"]
        for name, value in attributes.items()
        if isinstance(value, dict) and isinstance(value.get("Value"), str)
    }


# A JSON escape of a UTF-16 surrogate: where a lone one would come from (paired
# escapes decode to one character, and SQS refuses raw surrogates in a body).
# https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SendMessage.html
_SURROGATE_ESCAPE: Final = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
_SURROGATE_ESCAPE_BYTES: Final = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def _has_lone_surrogate(document: Any) -> bool:
    pending = [document]
    while pending:
        value = pending.pop()
        if isinstance(value, dict):
            pending.extend(value.keys())
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
        elif isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                return True
    return False


def read_json(text: str | bytes, what: str) -> Any:
    """Parse JSON with exact numbers; ``InvalidMessageError`` for anything that cannot be read.

    The error names what is wrong, never the text: a message may hold item values.
    """
    try:
        document = codec.loads(text)
    except UnicodeDecodeError:
        raise InvalidMessageError(f"{what} is not UTF-8 text") from None
    except ValueError as error:
        # json's own messages give a position, not the text; an integer of more than
        # Python's int_max_str_digits digits says only how many digits it has.
        raise InvalidMessageError(f"{what} is not JSON: {error}") from None
    except DecimalException:
        # A number whose exponent is beyond what Decimal holds (e.g. 1.5e99999999999999999999)
        # can never be read, on any delivery.
        raise InvalidMessageError(f"{what} holds a number beyond Decimal's range") from None
    except RecursionError:
        # Nesting this deep is never an envelope; refuse it like any other bad body.
        raise InvalidMessageError(f"{what} nests too deeply to be an envelope") from None
    pattern = _SURROGATE_ESCAPE if isinstance(text, str) else _SURROGATE_ESCAPE_BYTES
    if pattern.search(text) and _has_lone_surrogate(document):  # type: ignore[arg-type]
        # No DynamoDB string holds one (they are UTF-8), and no consumer can write
        # one out as UTF-8: it would fail on every delivery.
        raise InvalidMessageError(f"{what} holds a lone UTF-16 surrogate escape")
    return document


def is_sns_notification(document: Any) -> bool:
    """True for the JSON document SNS wraps a message in when raw delivery is off."""
    return (
        isinstance(document, dict)
        and document.get("Type") == "Notification"
        and isinstance(document.get("Message"), str)
        and "TopicArn" in document
    )


def unwrap(record: SQSRecord) -> Delivery:
    """The published message inside one SQS record; raises ``InvalidMessageError`` if unreadable."""
    body = record["body"]
    document = read_json(body, "message body")
    if is_sns_notification(document):
        inner = document["Message"]
        return Delivery(
            message_id=record["messageId"],
            receive_count=receive_count(record),
            body=inner,
            document=read_json(inner, "SNS notification Message"),
            attributes=_sns_attributes(document),
            via_sns=True,
        )
    return Delivery(
        message_id=record["messageId"],
        receive_count=receive_count(record),
        body=body,
        document=document,
        attributes=_sqs_attributes(record),
    )


def extended_pointer(delivery: Delivery) -> S3Location | None:
    """The S3 object an extended-client pointer names, or None for an ordinary message.

    Raises ``InvalidMessageError`` when the reserved size attribute says the
    payload was offloaded but the body is not a pointer.
    """
    document = delivery.document
    marked = any(name in delivery.attributes for name in EXTENDED_SIZE_ATTRIBUTES)
    if (
        isinstance(document, list)
        and len(document) == 2  # noqa: PLR2004 - the pointer is a [class, fields] pair
        and isinstance(document[0], str)  # a list or object here is unhashable: no pointer
        and document[0] in EXTENDED_POINTER_CLASSES
        and isinstance(document[1], dict)
    ):
        bucket, key = document[1].get("s3BucketName"), document[1].get("s3Key")
        if isinstance(bucket, str) and bucket and isinstance(key, str) and key:
            return S3Location(bucket, key)
        raise InvalidMessageError("extended-client pointer lacks s3BucketName or s3Key")
    if marked:
        raise InvalidMessageError(
            "message carries an extended-client size attribute but its body is not a pointer"
        )
    return None
