"""The text rules SQS and SNS hold messages to, which moto does not enforce.

https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SendMessage.html:
a body may hold only #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD |
#x10000 to #x10FFFF, and SQS refuses any other character with
``InvalidMessageContents``. SNS holds message attribute string values to its body's
rules (https://docs.aws.amazon.com/sns/latest/api/API_MessageAttributeValue.html).
The ranges are written out here, independently of the code under test.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import boto3
import botocore.handlers
from botocore.exceptions import ClientError

_ALLOWED = (
    (0x9, 0x9),
    (0xA, 0xA),
    (0xD, 0xD),
    (0x20, 0xD7FF),
    (0xE000, 0xFFFD),
    (0x10000, 0x10FFFF),
)


def refused_characters(text: str) -> list[str]:
    """The characters of ``text`` outside SQS's documented set, as ``U+XXXX``."""
    return [
        f"U+{ord(c):04X}" for c in text if not any(low <= ord(c) <= high for low, high in _ALLOWED)
    ]


def invalid_contents(operation: str, where: str, refused: list[str]) -> ClientError:
    """The error SQS answers a body (or attribute) with characters it refuses."""
    return ClientError(
        {
            "Error": {
                "Code": "InvalidMessageContents",
                "Message": f"Invalid characters found in {where}: {', '.join(refused[:5])}",
            },
            "ResponseMetadata": {"HTTPStatusCode": 400},
        },
        operation,
    )


def check_message(operation: str, body: str, attributes: Mapping[str, Any] | None) -> None:
    """Raise SQS's ``InvalidMessageContents`` for a body or attribute value it refuses."""
    if refused := refused_characters(body):
        raise invalid_contents(operation, "the message body", refused)
    for name, value in (attributes or {}).items():
        if refused := refused_characters(str(value.get("StringValue", ""))):
            raise invalid_contents(operation, f"message attribute {name}", refused)


def _refuse_invalid_contents(params: dict[str, Any], model: Any, **_: Any) -> None:
    if model.name == "SendMessage":
        check_message(model.name, params.get("MessageBody", ""), params.get("MessageAttributes"))
    elif model.name == "SendMessageBatch":
        for entry in params.get("Entries", []):
            check_message(model.name, entry.get("MessageBody", ""), entry.get("MessageAttributes"))


@contextmanager
def sqs_character_rule() -> Iterator[None]:
    """Clients created inside refuse SQS sends with characters SQS refuses.

    Every botocore session created inside gets the rule, and so does boto3's default
    session if it exists already (``boto3.client`` reuses it). Registered before parameter
    building, so the caller sees SQS's own error code (botocore would otherwise fail to
    encode a lone surrogate, a different failure).
    """
    entry = ("before-parameter-build.sqs", _refuse_invalid_contents)
    default = boto3.DEFAULT_SESSION
    botocore.handlers.BUILTIN_HANDLERS.append(entry)
    if default is not None:
        default.events.register(*entry)
    try:
        yield
    finally:
        botocore.handlers.BUILTIN_HANDLERS.remove(entry)
        if default is not None:
            default.events.unregister(*entry)
