"""Shapes of the Lambda event the router is invoked with.

The response and context shapes it shares with the consumers live in
``hubcommon.lambda_shapes``.
"""

from typing import Any, Literal, NotRequired, TypedDict


class StreamRecord(TypedDict):
    """One DynamoDB stream record as Lambda delivers it (validated by ``router.normalise``)."""

    eventID: str
    eventName: Literal["INSERT", "MODIFY", "REMOVE"]
    eventSourceARN: str
    dynamodb: dict[str, Any]
    userIdentity: NotRequired[dict[str, str]]
    awsRegion: NotRequired[str]
    eventSource: NotRequired[str]
    eventVersion: NotRequired[str]


class StreamEvent(TypedDict):
    """A DynamoDB stream batch as the event source mapping invokes the router with it."""

    Records: list[StreamRecord]
