"""Helpers for FIFO runs of the local hub: one targeted consumer failure, and what each consumer completed, in order."""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from fanout.local.faults import FaultPlan, FaultRates
from fanout.local.invoker import Invocation, Invoker
from fanout.local.model import FunctionSpec
from fanout.local.queues import failed_message_ids


class FailOnceBeforeLaterUpdates(FaultPlan):
    """Fails one consumer's side-effect write once, on a message whose item has later updates in the same batch.

    ``CompletedMessages`` arms it with each batch before the handler runs (on the
    handler's thread); it picks the first message of the first batch that holds a
    later message of the same group. With ``faulted_function_clients`` and
    ``FaultyInvoker`` the audit ``PutObject`` (or projection ``PutItem``) of that
    message raises a retryable 503 inside the handler, so the consumer runtime must
    report it and, on a FIFO queue, every later message of the batch. Every other
    fault the plan is asked about is declined.
    """

    def __init__(self) -> None:
        super().__init__(seed=0, rates=FaultRates(consumer_error=1.0), max_faults_per_item=1)
        self.function = ""  # the consumer's function name, known once the hub is deployed
        self.failed_items: list[str] = []
        self._armed = threading.local()

    def arm(self, function: str, records: Sequence[Mapping[str, Any]]) -> None:
        """Choose this batch's target (if none failed yet): its first message with a later one of its group."""
        self._armed.item = None
        if function != self.function or self.failed_items:
            return
        groups = [r.get("attributes", {}).get("MessageGroupId") for r in records]
        for index, group in enumerate(groups):
            if group is not None and group in groups[index + 1 :]:
                self._armed.item = json.loads(records[index]["body"])["id"]
                return

    def should(self, kind: str, scope: str, items: Sequence[str], key: str | None = None) -> bool:
        """True exactly once: for the armed message's side-effect write."""
        del key
        target = getattr(self._armed, "item", None)
        with self._lock:
            if kind != "consumer_error" or scope != self.function or self.failed_items:
                return False
            if target is None or list(items) != [target]:
                return False
            self.failed_items.append(target)
            self.injected[kind] += 1
        return True


class CompletedMessages:
    """An Invoker wrapper recording, per function, the SQS bodies each invocation completed.

    A body is completed when the invocation succeeded and its partial batch response
    does not name it, the messages Lambda deletes. The record is made before the
    invocation returns to the mapping, so before those messages are deleted and the
    next ones of their message group can be received: per group, the list is in the
    order the consumer finished them.
    """

    def __init__(self, inner: Invoker, plan: FailOnceBeforeLaterUpdates | None = None) -> None:
        self.inner = inner
        self._plan = plan
        self.completed: dict[str, list[str]] = {}
        self.groups: dict[str, str] = {}  # SQS body -> its MessageGroupId
        self._lock = threading.Lock()

    def invoke(self, function: FunctionSpec, event: Mapping[str, Any]) -> Invocation:
        """Invoke through ``inner`` and note the SQS messages the function completed."""
        records = [r for r in event.get("Records") or [] if r.get("eventSource") == "aws:sqs"]
        if self._plan is not None:
            self._plan.arm(function.name, records)
        invocation = self.inner.invoke(function, event)
        if records:
            failed, _ = failed_message_ids(records, invocation, report_failures=True)
            with self._lock:
                self.completed.setdefault(function.name, []).extend(
                    r["body"] for r in records if r["messageId"] not in failed
                )
                for record in records:
                    group = record.get("attributes", {}).get("MessageGroupId")
                    if group is not None:
                        self.groups[record["body"]] = group
        return invocation

    def envelopes(self, function: str) -> list[dict[str, Any]]:
        """The envelopes ``function`` completed, in the order it completed them."""
        with self._lock:
            return [json.loads(body) for body in self.completed.get(function, [])]
