"""SQS event source mapping: long polling, batching, partial failures, concurrency.

Rules (each has a unit test):
- Messages are received with long polling, up to ``BatchSize`` per batch,
  waiting up to ``MaximumBatchingWindowInSeconds`` to fill a batch.
- On success every message is deleted. On a function error none is: they
  become visible again after the queue's ``VisibilityTimeout``, and after
  ``maxReceiveCount`` receives the queue's own redrive policy moves them to its
  DLQ. With ``ReportBatchItemFailures`` only the reported messages stay; an
  empty, null or unknown ``itemIdentifier`` fails the whole batch.
  https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-errorhandling.html
- At most ``ScalingConfig.MaximumConcurrency`` batches are in the function at once.
  https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-scaling.html
- On a FIFO queue a message group is in one batch at a time, and a function that
  acknowledges a message after a failed one of its group is reported: Lambda
  deletes that message, out of order (``fanout.local.fifo``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from fanout.aws_rules.sqs import is_fifo_queue
from fanout.local.fifo import GroupsInFlight, acknowledged_out_of_order
from fanout.local.invoker import Invocation, Invoker, reported_failures
from fanout.local.model import FunctionSpec, MappingSpec
from fanout.local.observe import BatchEvent, InvocationOutcome, Observer
from fanout.local.records import to_lambda_sqs_record
from hubcommon.limits import SQS_SEND_BATCH_MAX_ENTRIES

# https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_ReceiveMessage.html
RECEIVE_MAX_MESSAGES = 10


@dataclass(frozen=True, slots=True)
class QueueSettings:
    """Local pacing; the mapping's behaviour comes from its MappingSpec."""

    # Lambda long-polls with 20 s waits; a short wait keeps start/stop quick locally.
    # 0 means short polling with a brief pause between empty receives (tests).
    wait_seconds: int = 1
    idle_pause_seconds: float = 0.05
    # Without ScalingConfig Lambda starts with five concurrent batches per queue.
    # https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-scaling.html
    default_concurrency: int = 5
    # None: a failed message waits out the queue's VisibilityTimeout, as in Lambda.
    # A number: the local hub shortens that wait (`fanout local up --retry-after`).
    retry_visibility_seconds: int | None = None


def failed_message_ids(
    records: Sequence[Mapping[str, Any]], invocation: Invocation, *, report_failures: bool
) -> tuple[set[str], str]:
    """The messageIds Lambda leaves on the queue after this invocation, and why."""
    every = {str(r["messageId"]) for r in records}
    if invocation.failed:
        return every, f"{invocation.error_type}: {invocation.error_message}"
    if not report_failures:
        return set(), ""
    identifiers, reason = reported_failures(invocation.response)
    if identifiers is None:
        return every, reason
    unknown = [i for i in identifiers if i not in every]
    if unknown:
        return every, f"itemIdentifier {unknown[0]!r} is not in the batch"
    return set(identifiers), "reported in batchItemFailures" if identifiers else ""


class QueuePoller:
    """Drives one SQS mapping until stopped."""

    def __init__(
        self,
        mapping: MappingSpec,
        function: FunctionSpec,
        sqs_client: Any,
        queue_url: str,
        invoker: Invoker,
        *,
        observer: Observer,
        settings: QueueSettings,
    ) -> None:
        self.mapping = mapping
        self.function = function
        self.queue_url = queue_url
        self._sqs = sqs_client
        self._invoker = invoker
        self._observe = observer
        self._settings = settings
        self.concurrency = mapping.maximum_concurrency or settings.default_concurrency
        self._slots = threading.BoundedSemaphore(self.concurrency)
        self._in_flight = 0
        self._counter_lock = threading.Lock()
        self.peak_in_flight = 0
        self.errors: list[str] = []
        self._groups = GroupsInFlight() if is_fifo_queue(mapping.source_arn) else None

    @property
    def in_flight(self) -> int:
        """Batches currently inside the function."""
        return self._in_flight

    def run(self, stop: threading.Event) -> None:
        """Receive batches and hand each to a worker while a concurrency slot is free."""
        with ThreadPoolExecutor(self.concurrency, thread_name_prefix="esm-sqs") as pool:
            while not stop.is_set():
                if not self._slots.acquire(timeout=0.1):
                    continue
                try:
                    batch = self._gather(stop)
                except Exception as exc:  # noqa: BLE001 - a polling error must not end the poller
                    self.errors.append(f"{type(exc).__name__}: {exc}")
                    self._slots.release()
                    stop.wait(0.5)
                    continue
                if not batch:
                    self._slots.release()
                    if not self._settings.wait_seconds:
                        stop.wait(self._settings.idle_pause_seconds)
                    continue
                pool.submit(self._handle, batch)

    def _receive(self, count: int) -> list[dict[str, Any]]:
        response = self._sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=min(RECEIVE_MAX_MESSAGES, count),
            WaitTimeSeconds=self._settings.wait_seconds,
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        return list(response.get("Messages", []))

    def _gather(self, stop: threading.Event) -> list[dict[str, Any]]:
        """One batch: the first receive, then more until BatchSize or the window closes."""
        size = self.mapping.effective_batch_size
        window = self.mapping.maximum_batching_window_seconds
        batch = self._receive(size)
        if not batch or window <= 0:
            return batch
        closes = time.monotonic() + window
        while len(batch) < size and time.monotonic() < closes and not stop.is_set():
            more = self._receive(size - len(batch))
            batch.extend(more)
            if not more:
                stop.wait(min(0.1, max(0.0, closes - time.monotonic())))
        return batch

    def _handle(self, messages: list[dict[str, Any]]) -> None:
        with self._counter_lock:
            self._in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self._in_flight)
        try:
            self._deliver(messages)
        except Exception as exc:  # noqa: BLE001 - keep the worker alive; the messages reappear
            self.errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            with self._counter_lock:
                self._in_flight -= 1
            self._slots.release()

    def _deliver(self, messages: list[dict[str, Any]]) -> None:
        queue_arn = self.mapping.source_arn
        records = [to_lambda_sqs_record(m, queue_arn) for m in messages]
        self._emit(InvocationOutcome.DELIVERED, messages)
        invocation = self._invoke_in_order(messages, records)
        failed, reason = failed_message_ids(
            records, invocation, report_failures=self.mapping.reports_batch_item_failures
        )
        if self._groups is not None and (early := acknowledged_out_of_order(messages, failed)):
            self.errors.append(
                f"FIFO order broken on {queue_arn}: {self.function.name} acknowledged"
                f" {', '.join(early)} after a failed message of the same group; Lambda"
                " deletes them (https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-errorhandling.html)"
            )
        done = [m for m in messages if m["MessageId"] not in failed]
        kept = [m for m in messages if m["MessageId"] in failed]
        for chunk in _chunks(done):
            self._sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in chunk],
            )
        if done:
            self._emit(InvocationOutcome.SUCCEEDED, done)
        if kept:
            delay = self._settings.retry_visibility_seconds
            if delay is not None:
                for chunk in _chunks(kept):
                    self._sqs.change_message_visibility_batch(
                        QueueUrl=self.queue_url,
                        Entries=[
                            {
                                "Id": str(i),
                                "ReceiptHandle": m["ReceiptHandle"],
                                "VisibilityTimeout": delay,
                            }
                            for i, m in chunk
                        ],
                    )
            self._emit(InvocationOutcome.RETRIED, kept, reason)

    def _invoke_in_order(
        self, messages: Sequence[Mapping[str, Any]], records: list[dict[str, Any]]
    ) -> Invocation:
        """Invoke; on a FIFO queue, check that no other batch holds one of these groups."""
        if self._groups is None:
            return self._invoker.invoke(self.function, {"Records": records})
        clashes = self._groups.enter(messages)
        if clashes:
            self.errors.append(
                f"FIFO group in two batches at once on {self.mapping.source_arn}:"
                f" {', '.join(clashes)}"
            )
        try:
            return self._invoker.invoke(self.function, {"Records": records})
        finally:
            # Before the deletes: once they land, SQS may hand the group's next messages
            # to another batch at once.
            self._groups.leave(messages)

    def _emit(
        self, outcome: InvocationOutcome, messages: Sequence[Mapping[str, Any]], detail: str = ""
    ) -> None:
        self._observe(
            BatchEvent(
                outcome=outcome,
                function=self.function.name,
                source_arn=self.mapping.source_arn,
                identifiers=tuple(str(m["MessageId"]) for m in messages),
                detail=detail,
                receive_counts=tuple(
                    int((m.get("Attributes") or {}).get("ApproximateReceiveCount", 1))
                    for m in messages
                ),
                bodies=tuple(str(m.get("Body", "")) for m in messages),
            )
        )


def _chunks(
    messages: Sequence[Mapping[str, Any]],
) -> list[list[tuple[int, Mapping[str, Any]]]]:
    indexed = list(enumerate(messages))
    step = SQS_SEND_BATCH_MAX_ENTRIES
    return [indexed[i : i + step] for i in range(0, len(indexed), step)]
