"""The router DLQ: records that can never be routed, kept whole with their error for replay."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, TypedDict

from router.normalise import sequence_number_of
from schemas.limits import SQS_MAX_MESSAGE_BYTES

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sqs import SQSClient

DEAD_LETTER_VERSION: Literal["1"] = "1"
# Records too big for an SQS message (a DynamoDB item can be 400 KB) are kept in
# the payload bucket and the DLQ message carries their location instead.
KEY_PREFIX = "dead-letters/"


class DeadLetterError(TypedDict):
    """Why the record could not be routed."""

    kind: str
    message: str


class DeadLetter(TypedDict, total=False):
    """The body of a router DLQ message (``record`` or ``record_ref`` is set)."""

    version: Literal["1"]
    reason: Literal["poison", "rejected"]
    error: DeadLetterError
    failed_at: str
    function: str
    request_id: str
    sequence_number: str | None
    record: Any
    record_ref: str


class DeadLetterWriter:
    """Writes unroutable stream records to the router DLQ."""

    def __init__(self, sqs: SQSClient, queue_url: str, s3: S3Client, bucket: str) -> None:
        self._sqs = sqs
        self._queue_url = queue_url
        self._s3 = s3
        self._bucket = bucket

    def write(
        self,
        record: Any,
        reason: Literal["poison", "rejected"],
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
        body = json.dumps(letter, ensure_ascii=False, default=str)
        if len(body.encode("utf-8")) > SQS_MAX_MESSAGE_BYTES - 1024:
            key = f"{KEY_PREFIX}{origin.get('request_id', 'unknown')}/{sequence or 'no-sequence'}.json"
            self._s3.put_object(Bucket=self._bucket, Key=key, Body=body.encode("utf-8"))
            del letter["record"]
            letter["record_ref"] = f"s3://{self._bucket}/{key}"
            body = json.dumps(letter, ensure_ascii=False)
        self._sqs.send_message(
            QueueUrl=self._queue_url,
            MessageBody=body,
            MessageAttributes={
                "reason": {"DataType": "String", "StringValue": reason},
                "error_kind": {"DataType": "String", "StringValue": error["kind"]},
            },
        )
