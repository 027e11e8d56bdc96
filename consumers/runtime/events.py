"""Shapes of the Lambda SQS event.

https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html. The partial batch
response and the context object are shared with the router:
``hubcommon.lambda_shapes``.
"""

from __future__ import annotations

from typing import NotRequired, TypedDict


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
