"""The deployed router, invoked with stream-shaped events: chunking, and what it did not publish."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from fanout.connection import Connection
from fanout.ops.resolve import Hub
from router.normalise import sequence_number_of

# Records per invocation: the router mapping's BatchSize in template.yaml.
ROUTE_BATCH: Final = 100
# Lambda's synchronous invocation request payload quota is 6 MB; the event's own JSON
# around the records stays well inside the margin.
# https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html
INVOKE_PAYLOAD_LIMIT: Final = 6 * 1024 * 1024
INVOKE_PAYLOAD_BUDGET: Final = INVOKE_PAYLOAD_LIMIT - 64 * 1024


@dataclass(frozen=True, slots=True)
class RouterAnswer:
    """What one router invocation said: the records it did not publish, or its error."""

    request_id: str
    failures: list[str] = field(default_factory=list)
    """``batchItemFailures`` item identifiers (sequence numbers), earliest first."""
    error: str | None = None
    """The function error (``FunctionError``): nothing is known to be published."""


class RoutesRecords(Protocol):
    """Something that routes stream records as the deployed router does."""

    def route(self, records: Sequence[Mapping[str, Any]]) -> RouterAnswer: ...


class DeployedRouter:
    """The deployed router function, invoked synchronously with a stream-shaped event."""

    def __init__(self, lambda_client: Any, function_name: str) -> None:
        self.lambda_client = lambda_client
        """The Lambda client it invokes with (``Connection.invoke_client``: one attempt, the whole timeout)."""
        self.function_name = function_name

    @classmethod
    def of(cls, connection: Connection, hub: Hub) -> DeployedRouter:
        """The hub's router function (``RouterFunctionName`` output).

        Invoked with a client that waits out the router's whole timeout and never
        retries a call (``Connection.invoke_client``).
        """
        name = hub.need("router_function", "--stack of a deployed hub")
        return cls(connection.invoke_client(hub.router_timeout), name)

    def route(self, records: Sequence[Mapping[str, Any]]) -> RouterAnswer:
        """One ``RequestResponse`` invocation; raises the invoke's ``ClientError`` (AccessDenied...)."""
        response = self.lambda_client.invoke(
            FunctionName=self.function_name,
            InvocationType="RequestResponse",
            Payload=stream_event(records),
        )
        request_id = str(response.get("ResponseMetadata", {}).get("RequestId", ""))
        body = response["Payload"].read()
        if response.get("FunctionError"):
            detail = json.loads(body) if body else {}
            message = f"{detail.get('errorType', 'Error')}: {detail.get('errorMessage', '')}"
            return RouterAnswer(request_id, error=message)
        answer = json.loads(body) if body else None
        failures = (answer or {}).get("batchItemFailures") or []
        return RouterAnswer(request_id, [str(f["itemIdentifier"]) for f in failures])


def stream_event(records: Sequence[Mapping[str, Any]]) -> bytes:
    """The event Lambda gives a DynamoDB stream function: ``{"Records": [...]}``.

    https://docs.aws.amazon.com/lambda/latest/dg/with-ddb.html#services-dynamodb-event
    """
    return json.dumps({"Records": list(records)}, default=str).encode()


def chunks(records: Sequence[Mapping[str, Any]]) -> Iterator[list[Mapping[str, Any]]]:
    """Consecutive runs of at most ``ROUTE_BATCH`` records and ``INVOKE_PAYLOAD_BUDGET`` bytes.

    A single stream record is far below the budget (a DynamoDB item is at most 400 KB).
    """
    chunk: list[Mapping[str, Any]] = []
    size = 0
    for record in records:
        record_size = len(json.dumps(record, default=str).encode()) + 2
        if chunk and (len(chunk) == ROUTE_BATCH or size + record_size > INVOKE_PAYLOAD_BUDGET):
            yield chunk
            chunk, size = [], 0
        chunk.append(record)
        size += record_size
    if chunk:
        yield chunk


@dataclass
class RouteResult:
    """How many records of a list were routed, and where the first unrouted one is."""

    routed: int
    failed_at: int | None = None
    reason: str | None = None


def unpublished_from(chunk: Sequence[Mapping[str, Any]], answer: RouterAnswer) -> int:
    """The index of the first record of ``chunk`` the router did not publish (len: none)."""
    if answer.error is not None:
        return 0
    if not answer.failures:
        return len(chunk)
    resume = answer.failures[0]
    return next((i for i, r in enumerate(chunk) if sequence_number_of(r) == resume), 0)


def route_records(router: RoutesRecords, records: Sequence[Mapping[str, Any]]) -> RouteResult:
    """Route chunk by chunk; stop at the first chunk that does not complete."""
    done = 0
    for chunk in chunks(records):
        answer = router.route(chunk)
        index = unpublished_from(chunk, answer)
        if index < len(chunk):
            reason = (
                f"the router failed: {answer.error}"
                if answer.error is not None
                else f"not published from {answer.failures[0]}"
            )
            return RouteResult(done + index, done + index, reason)
        done += len(chunk)
    return RouteResult(done)
