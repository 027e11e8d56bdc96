"""Shapes both deployed functions share at the Lambda boundary.

The router (DynamoDB stream) and every consumer (SQS) answer Lambda with a
partial batch response and read the same context object:
https://docs.aws.amazon.com/lambda/latest/dg/services-ddb-batchfailurereporting.html,
https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-errorhandling.html and
https://docs.aws.amazon.com/lambda/latest/dg/python-context.html.
"""

from __future__ import annotations

from typing import Protocol, TypedDict


class BatchItemFailure(TypedDict):
    """One entry of a partial batch response: a stream sequence number or an SQS message id."""

    itemIdentifier: str


class BatchResponse(TypedDict):
    """What a handler returns with ``ReportBatchItemFailures``.

    For a stream, Lambda resumes the shard at the first listed record; for a
    queue, only the listed messages become visible again.
    """

    batchItemFailures: list[BatchItemFailure]


class LambdaContext(Protocol):
    """The part of the Lambda context object the hub reads."""

    @property
    def aws_request_id(self) -> str: ...

    @property
    def function_name(self) -> str: ...

    def get_remaining_time_in_millis(self) -> int: ...
