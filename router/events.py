"""Shapes of the Lambda events and responses the router deals in."""

from typing import Any, Literal, NotRequired, Protocol, TypedDict


class StreamRecord(TypedDict):
    """One DynamoDB stream record as Lambda delivers it (not validated yet)."""

    eventID: str
    eventName: Literal["INSERT", "MODIFY", "REMOVE"]
    eventSourceARN: str
    dynamodb: dict[str, Any]
    userIdentity: NotRequired[dict[str, str]]
    awsRegion: NotRequired[str]
    eventSource: NotRequired[str]
    eventVersion: NotRequired[str]


class BatchItemFailure(TypedDict):
    """One entry of a partial batch response."""

    itemIdentifier: str


class BatchResponse(TypedDict):
    """What the handler returns: Lambda resumes the shard at the first listed record."""

    batchItemFailures: list[BatchItemFailure]


class LambdaContext(Protocol):
    """The part of the Lambda context object the hub reads."""

    @property
    def aws_request_id(self) -> str: ...

    @property
    def function_name(self) -> str: ...

    def get_remaining_time_in_millis(self) -> int: ...
