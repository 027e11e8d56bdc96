"""Which DLQ a name means (a consumer, ``router``, or any queue), and where a redrive sends to."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from botocore.exceptions import ClientError

from fanout.connection import queue_url_of
from fanout.ops.resolve import ROUTER_DLQ_NAME, Hub, ResolveError

Kind = Literal["consumer", "router", "queue"]


@dataclass(frozen=True, slots=True)
class ResolvedDlq:
    """A DLQ to read: where it is, what writes to it, and where its messages came from."""

    name: str
    url: str
    kind: Kind
    source_url: str | None = None
    """The queue whose redrive policy targets this DLQ (a redrive's default destination)."""


def resolve_dlq(hub: Hub, sqs: Any, name: str) -> ResolvedDlq:
    """``router``, a consumer's name, or a queue name/ARN/URL, as a ``ResolvedDlq``."""
    if name == ROUTER_DLQ_NAME:
        return ResolvedDlq(name, hub.need("router_dlq_url", "--router-dlq-url"), "router")
    for consumer in hub.consumers:
        if consumer.name == name:
            return ResolvedDlq(name, consumer.dlq_url, "consumer", consumer.queue_url)
    try:
        url = queue_url_of(sqs, name)
    except ClientError as exc:
        known = ", ".join([ROUTER_DLQ_NAME, *(c.name for c in hub.consumers)])
        code = exc.response.get("Error", {}).get("Code")
        raise ResolveError(
            f"{name!r} is not a consumer of stack {hub.stack_name!r} ({known}) nor a queue "
            f"this identity can reach ({code})"
        ) from exc
    if hub.router_dlq_url and same_queue(url, hub.router_dlq_url):
        return ResolvedDlq(ROUTER_DLQ_NAME, url, "router")

    for consumer in hub.consumers:
        if same_queue(url, consumer.dlq_url):
            return ResolvedDlq(consumer.name, consumer.dlq_url, "consumer", consumer.queue_url)
    sources = sqs.list_dead_letter_source_queues(QueueUrl=url).get("queueUrls", [])
    return ResolvedDlq(name, url, "queue", sources[0] if len(sources) == 1 else None)


def same_queue(a: str, b: str) -> bool:
    """True when two queue URLs name the same queue.

    Stack outputs and ListQueues may spell a queue's URL differently (moto's host vs.
    the service's): the account and queue name identify it.
    """
    return a.split("/")[-2:] == b.split("/")[-2:]


# GetQueueUrl's answers for a queue the caller cannot reach. AWS's own message for
# QueueDoesNotExist is "The specified queue does not exist or you do not have access
# to it": the two are one answer to the caller, and so are they here.
# https://docs.aws.amazon.com/botocore/latest/reference/services/sqs/client/exceptions/QueueDoesNotExist.html
# https://repost.aws/knowledge-center/sqs-queuedoesnotexist-errors
UNREACHABLE_QUEUE_CODES = frozenset(
    {
        "QueueDoesNotExist",
        "AWS.SimpleQueueService.NonExistentQueue",
        "AccessDenied",
        "AccessDeniedException",
    }
)


def destination_url(hub: Hub, sqs: Any, name: str) -> str:
    """``--to``: a consumer's name (its queue) or a queue name/ARN/URL.

    ``ResolveError`` listing the consumers when ``name`` is none of them and no queue
    of that name can be reached.
    """
    for consumer in hub.consumers:
        if consumer.name == name:
            return consumer.queue_url
    try:
        return queue_url_of(sqs, name)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in UNREACHABLE_QUEUE_CODES:
            raise
        known = ", ".join(c.name for c in hub.consumers) or "none"
        raise ResolveError(
            f"--to {name!r} is not a consumer of stack {hub.stack_name!r} (consumers: {known}) "
            f"nor a queue this identity can reach ({exc.response['Error'].get('Code')})"
        ) from exc
