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
        raise ResolveError(f"{name!r} is not a consumer ({known}) nor a queue: {exc}") from exc
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


def destination_url(hub: Hub, sqs: Any, name: str) -> str:
    """``--to``: a consumer's name (its queue) or a queue name/ARN/URL."""
    for consumer in hub.consumers:
        if consumer.name == name:
            return consumer.queue_url
    return queue_url_of(sqs, name)
