"""The router DLQ: records that can never be routed, kept whole with their error for replay."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, NotRequired, TypedDict

from hubcommon.limits import DYNAMODB_SEQUENCE_NUMBER_MAX_DIGITS, SQS_MAX_MESSAGE_BYTES
from router.attributes import message_safe
from router.contracts import Violation
from router.normalise import sequence_number_of

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sqs import SQSClient

DEAD_LETTER_VERSION: Literal["1"] = "1"
# Records too big for an SQS message (a DynamoDB item can be 400 KB) are kept in
# the payload bucket and the DLQ message carries their location instead.
KEY_PREFIX = "dead-letters/"


Reason = Literal["poison", "rejected", "contract"]
"""``contract``: the item breaks its entity's contract and the router enforces it."""


class DeadLetterError(TypedDict):
    """Why the record could not be routed."""

    kind: str
    message: str
    violations: NotRequired[list[Violation]]
    """For a ``contract`` letter: every field the item gets wrong (where and how, no values)."""


class DeadLetter(TypedDict, total=False):
    """The body of a router DLQ message (``record`` or ``record_ref`` is set)."""

    version: Literal["1"]
    reason: Reason
    error: DeadLetterError
    failed_at: str
    function: str
    request_id: str
    sequence_number: str | None
    record: Any
    record_ref: str


class DeadLetterWriter:
    """Writes unroutable stream records to the router DLQ."""

    @staticmethod
    def _key_for(origin: Mapping[str, str], sequence: str | None) -> str:
        """A new object key for each oversize letter: two in one invocation never share one.

        The sequence number only names the object for a reader, and only when it is one
        (a poison record's may be any text); the random part makes it unique.
        """
        request = origin.get("request_id") or "unknown"
        if not (request.isascii() and request.replace("-", "").isalnum()):
            request = "unknown"
        named = (
            sequence if sequence and sequence.isascii() and sequence.isdigit() else "no-sequence"
        )
        return f"{KEY_PREFIX}{request}/{named[:DYNAMODB_SEQUENCE_NUMBER_MAX_DIGITS]}-{uuid.uuid4().hex}.json"

    def __init__(self, sqs: SQSClient, queue_url: str, s3: S3Client, bucket: str) -> None:
        self._sqs = sqs
        self._queue_url = queue_url
        self._s3 = s3
        self._bucket = bucket

    def write(
        self,
        record: Any,
        reason: Reason,
        error: DeadLetterError,
        origin: Mapping[str, str],
    ) -> None:
        """Keep the whole record and its error; raises botocore errors if it could not be kept."""
        sequence = sequence_number_of(record)
        letter: DeadLetter = {
            "version": DEAD_LETTER_VERSION,
            "reason": reason,
            "error": error,
            "failed_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "function": origin.get("function", ""),
            "request_id": origin.get("request_id", ""),
            "sequence_number": sequence,
            "record": record,
        }
        # A record may hold any text DynamoDB (or a forged event) can: lone surrogates
        # and the noncharacters U+FFFE/U+FFFF, which SQS refuses in a body
        # (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SendMessage.html).
        # They are written as JSON escapes, so the letter still reads back as the record.
        body = message_safe(json.dumps(letter, ensure_ascii=False, default=str))
        if len(body.encode("utf-8")) > SQS_MAX_MESSAGE_BYTES - 1024:
            key = self._key_for(origin, sequence)
            self._s3.put_object(Bucket=self._bucket, Key=key, Body=body.encode("utf-8"))
            del letter["record"]
            letter["record_ref"] = f"s3://{self._bucket}/{key}"
            body = message_safe(json.dumps(letter, ensure_ascii=False))
        self._sqs.send_message(
            QueueUrl=self._queue_url,
            MessageBody=body,
            MessageAttributes={
                "reason": {"DataType": "String", "StringValue": reason},
                "error_kind": {"DataType": "String", "StringValue": error["kind"]},
            },
        )
