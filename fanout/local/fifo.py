"""Lambda's FIFO rules for an SQS mapping, checked by the queue poller on every batch.

The order of a FIFO queue is kept by three parties, and the emulator checks the two
that are not the queue itself (moto's SQS hides a group's later messages while one
of them is in flight, as SQS does):

- One message group is never in two batches at once. "Messages within the same
  message group are always processed one at a time, in strict order"
  (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/FIFO-key-terms.html);
  a group seen in a second batch while the first is inside the function means the
  endpoint broke that promise.
- With ``ReportBatchItemFailures`` on a FIFO queue the function "should stop
  processing messages after the first failure and return all failed and unprocessed
  messages in batchItemFailures"
  (https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-errorhandling.html).
  Lambda deletes every message the response leaves out, so a message acknowledged
  after a failed one of its group has been processed ahead of it, for good. The
  poller deletes it as Lambda does and reports the broken order.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any


def group_of(message: Mapping[str, Any]) -> str | None:
    """The ``MessageGroupId`` system attribute of a received message, if it has one."""
    attributes = message.get("Attributes") or {}
    group = attributes.get("MessageGroupId")
    return str(group) if group is not None else None


def acknowledged_out_of_order(messages: Sequence[Mapping[str, Any]], failed: set[str]) -> list[str]:
    """Ids of messages left out of the failures although an earlier one of their group failed."""
    failed_groups: set[str | None] = set()
    out_of_order: list[str] = []
    for message in messages:
        group = group_of(message)
        if message["MessageId"] in failed:
            failed_groups.add(group)
        elif group in failed_groups:
            out_of_order.append(str(message["MessageId"]))
    return out_of_order


class GroupsInFlight:
    """The message groups inside the function right now, for one FIFO mapping; thread-safe."""

    def __init__(self) -> None:
        self._groups: Counter[str] = Counter()
        self._lock = threading.Lock()

    def enter(self, messages: Sequence[Mapping[str, Any]]) -> list[str]:
        """Record a batch going in; returns the groups another batch already holds."""
        groups = {g for g in map(group_of, messages) if g is not None}
        with self._lock:
            clashes = sorted(g for g in groups if self._groups[g])
            self._groups.update(groups)
        return clashes

    def leave(self, messages: Sequence[Mapping[str, Any]]) -> None:
        """Record a batch coming out of the function (before its messages are deleted)."""
        groups = {g for g in map(group_of, messages) if g is not None}
        with self._lock:
            self._groups.subtract(groups)
            self._groups = +self._groups
