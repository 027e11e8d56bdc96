"""Dead letters: a message that can never succeed, kept whole and replayable, with its error.

The DLQ message body is the original SQS body, byte for byte, so replaying is
sending it back to the consumer's queue (``aws sqs start-message-move-task``
or a plain ``SendMessage``). The original message attributes are kept; the
error travels in these added message attributes:

- ``fanout-error-type``: the exception class, e.g. ``InvalidMessageError``;
- ``fanout-error``: the error text (at most ``MAX_ERROR_CHARS`` characters);
- ``fanout-origin``: JSON ``{"consumer", "messageId", "receiveCount",
  "eventSourceARN", "envelopeId", "deadLetteredAt"}``.

SQS allows 10 attributes; if the original had more than 7, the extended-client
size attribute is kept first (a replay needs it) and the rest in name order.

The runtime ignores ``fanout-`` attributes when reading, so a message moved
back as it is (``start-message-move-task``) replays cleanly; if it fails again,
its new error replaces the old one.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final

from consumers.runtime.events import SQSRecord
from consumers.runtime.messages import EXTENDED_SIZE_ATTRIBUTES
from hubcommon.limits import SQS_MAX_MESSAGE_ATTRIBUTES

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import MessageAttributeValueTypeDef

ERROR_ATTRIBUTE_PREFIX: Final = "fanout-"
MAX_ERROR_CHARS: Final = 2048

# What SQS refuses in a message body and in a String attribute value: anything outside
# #x9 | #xA | #xD | #x20-#xD7FF | #xE000-#xFFFD | #x10000-#x10FFFF. An error text can
# quote such a character from the message (a pointer's key), and a refused send would
# return the message to the queue on every delivery.
# https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SendMessage.html
# https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_MessageAttributeValue.html
_SQS_REFUSED: Final = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def sqs_text(text: str) -> str:
    """``text`` with every character SQS refuses replaced by U+FFFD."""
    return _SQS_REFUSED.sub("\ufffd", text)


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """What goes to the DLQ: the original body and attributes plus the error."""

    body: str
    attributes: dict[str, MessageAttributeValueTypeDef]
    dropped_attributes: tuple[str, ...] = ()
    message_id: str = ""
    group_id: str | None = None


def _original_attributes(record: SQSRecord) -> dict[str, MessageAttributeValueTypeDef]:
    kept: dict[str, MessageAttributeValueTypeDef] = {}
    for name, value in (record.get("messageAttributes") or {}).items():
        if name.startswith(ERROR_ATTRIBUTE_PREFIX):
            continue  # a replayed dead letter failing again: its new error replaces the old
        data_type = value.get("dataType", "String")
        if "stringValue" in value:
            kept[name] = {"DataType": data_type, "StringValue": value["stringValue"]}
        elif "binaryValue" in value:
            kept[name] = {
                "DataType": data_type,
                "BinaryValue": base64.b64decode(value["binaryValue"]),
            }
    return kept


def dead_letter_of(
    record: SQSRecord,
    *,
    consumer: str,
    error: BaseException,
    envelope_id: str | None,
    now: datetime | None = None,
) -> DeadLetter:
    """The DLQ message for ``record`` failing permanently with ``error``."""
    when = (now or datetime.now(UTC)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    origin = {
        "consumer": consumer,
        "messageId": record["messageId"],
        "receiveCount": int(record.get("attributes", {}).get("ApproximateReceiveCount", "1")),
        "eventSourceARN": record.get("eventSourceARN"),
        "envelopeId": envelope_id,
        "deadLetteredAt": when,
    }
    added: dict[str, MessageAttributeValueTypeDef] = {
        "fanout-error-type": {"DataType": "String", "StringValue": sqs_text(type(error).__name__)},
        "fanout-error": {
            "DataType": "String",
            "StringValue": sqs_text((str(error) or type(error).__name__)[:MAX_ERROR_CHARS]),
        },
        "fanout-origin": {"DataType": "String", "StringValue": json.dumps(origin)},
    }
    original = _original_attributes(record)
    room = SQS_MAX_MESSAGE_ATTRIBUTES - len(added)
    names = sorted(original, key=lambda name: (name not in EXTENDED_SIZE_ATTRIBUTES, name))
    kept, dropped = names[:room], tuple(names[room:])
    return DeadLetter(
        body=record["body"],
        attributes={**{name: original[name] for name in kept}, **added},
        dropped_attributes=dropped,
        message_id=record["messageId"],
        group_id=record.get("attributes", {}).get("MessageGroupId"),
    )


class DeadLetterQueue:
    """Sends dead letters to one SQS queue; a failed send raises (the caller keeps the message)."""

    def __init__(self, sqs: SQSClient, queue_url: str) -> None:
        self._sqs = sqs
        self._queue_url = queue_url

    def send(self, letter: DeadLetter) -> str:
        """Send and return the DLQ message id."""
        if self._queue_url.endswith(".fifo"):
            # A FIFO DLQ needs a group and a deduplication id; the source message id
            # makes a repeated send of the same dead letter a no-op.
            response = self._sqs.send_message(
                QueueUrl=self._queue_url,
                MessageBody=letter.body,
                MessageAttributes=letter.attributes,
                MessageGroupId=letter.group_id or "dead-letters",
                MessageDeduplicationId=hashlib.sha256(letter.message_id.encode()).hexdigest(),
            )
        else:
            response = self._sqs.send_message(
                QueueUrl=self._queue_url,
                MessageBody=letter.body,
                MessageAttributes=letter.attributes,
            )
        return response["MessageId"]
