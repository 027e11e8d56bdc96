"""Shapes of the Lambda SQS event and the partial batch response.

https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html (event shape) and
https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-errorhandling.html
(``ReportBatchItemFailures``).
"""

from __future__ import annotations

from typing import NotRequired, Protocol, TypedDict


class SQSMessageAttribute(TypedDict):
    """One SQS message attribute as Lambda delivers it (binary values are base64 text)."""

    dataType: str
    stringValue: NotRequired[str]
    binaryValue: NotRequired[str]
    stringListValues: NotRequired[list[str]]
    binaryListValues: NotRequired[list[str]]


class SQSRecord(TypedDict):
    """One SQS message in a Lambda batch."""

    messageId: str
    receiptHandle: str
    body: str
    attributes: dict[str, str]
    messageAttributes: dict[str, SQSMessageAttribute]
    md5OfBody: NotRequired[str]
    eventSource: NotRequired[str]
    eventSourceARN: NotRequired[str]
    awsRegion: NotRequired[str]


class SQSEvent(TypedDict):
    """The event Lambda invokes an SQS-triggered function with."""

    Records: list[SQSRecord]


class BatchItemFailure(TypedDict):
    """One message to return to the queue."""

    itemIdentifier: str


class BatchResponse(TypedDict):
    """Partial batch response: only the listed messages become visible again."""

    batchItemFailures: list[BatchItemFailure]


class LambdaContext(Protocol):
    """The part of the Lambda context object the runtime reads."""

    @property
    def aws_request_id(self) -> str: ...

    def get_remaining_time_in_millis(self) -> int: ...
