"""The SQS mapping on a FIFO queue: per-group order across failures, and the checks that guard it.

Lambda on a FIFO queue: the function "should stop processing messages after the first
failure and return all failed and unprocessed messages in batchItemFailures"
(https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-errorhandling.html), and SQS
hands out a message group's next messages only once the earlier ones are gone
(https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/FIFO-key-terms.html).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from local_hub_fakes import wait_until

from fanout.connection import Connection
from fanout.local.fifo import GroupsInFlight, acknowledged_out_of_order
from fanout.local.invoker import CallableInvoker
from fanout.local.model import FunctionSpec, MappingSpec
from fanout.local.observe import EventLog
from fanout.local.queues import QueuePoller, QueueSettings

CONSUMER = FunctionSpec(name="consumer", handler="consumers.audit_log.app.handler")
FAST = QueueSettings(wait_seconds=0, retry_visibility_seconds=0)
REPORTS = ("ReportBatchItemFailures",)


def received(message_id: str, group: str) -> dict[str, Any]:
    """A ReceiveMessage message of a FIFO queue, as far as the checks read it."""
    return {"MessageId": message_id, "Attributes": {"MessageGroupId": group}}


def fifo_queue(clients: Connection, name: str) -> tuple[str, str]:
    """A FIFO queue with the kit's settings: (url, arn)."""
    sqs = clients.client("sqs")
    url = sqs.create_queue(
        QueueName=f"{name}.fifo",
        Attributes={
            "FifoQueue": "true",
            "DeduplicationScope": "messageGroup",
            "FifoThroughputLimit": "perMessageGroupId",
            "VisibilityTimeout": "30",
        },
    )["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    return url, arn


def send(clients: Connection, url: str, *bodies: str) -> None:
    """Each body is ``<group><n>``: its group is its first letter, its id the body."""
    for body in bodies:
        clients.client("sqs").send_message(
            QueueUrl=url, MessageBody=body, MessageGroupId=body[0], MessageDeduplicationId=body
        )


@contextmanager
def polling(
    clients: Connection, url: str, arn: str, handler: Any, batch_size: int = 10
) -> Iterator[QueuePoller]:
    """Run a FIFO mapping (no window, partial failures, 5 batches at once) until the block ends."""
    poller = QueuePoller(
        MappingSpec(
            function="consumer",
            source_arn=arn,
            batch_size=batch_size,
            function_response_types=REPORTS,
            maximum_concurrency=5,
        ),
        CONSUMER,
        clients.client("sqs"),
        url,
        CallableInvoker({"consumer": handler}),
        observer=EventLog(),
        settings=FAST,
    )
    stop = threading.Event()
    worker = threading.Thread(target=poller.run, args=(stop,))
    worker.start()
    try:
        yield poller
    finally:
        stop.set()
        worker.join(10)


class FailsOnceThenStops:
    """A consumer that keeps Lambda's FIFO contract: on the first failure it stops and reports
    the failed message and every later one."""

    def __init__(self, fail_once: str, wait_for_company: float = 0.0) -> None:
        self.processed: list[str] = []
        self.failed: list[str] = []
        self.active: set[str] = set()
        self.overlaps: list[str] = []
        self._fail_once = fail_once
        self._wait = wait_for_company
        self._lock = threading.Lock()
        self._company = threading.Condition(self._lock)
        self._in_flight = 0
        self._met = False  # two batches have been inside at once

    def __call__(self, event: dict[str, Any], _context: Any) -> dict[str, Any]:
        records = event["Records"]
        groups = {r["attributes"]["MessageGroupId"] for r in records}
        with self._lock:
            self.overlaps += sorted(groups & self.active)
            self.active |= groups
            self._in_flight += 1
            self._met |= self._in_flight > 1
            self._company.notify_all()
            # Until two batches have been inside at once, each holds its groups in flight
            # until another joins (or the wait ends): batches side by side happen
            # whatever the machine's load, and later batches run unhindered.
            self._company.wait_for(lambda: self._met, timeout=self._wait)
        failures: list[str] = []
        for record in records:
            if failures:
                failures.append(record["messageId"])
                continue
            with self._lock:
                if record["body"] == self._fail_once and record["body"] not in self.failed:
                    self.failed.append(record["body"])
                    failures.append(record["messageId"])
                    continue
                self.processed.append(record["body"])
        with self._lock:
            self.active -= groups
            self._in_flight -= 1
        return {"batchItemFailures": [{"itemIdentifier": m} for m in failures]}


class TestOrderAcrossAFailure:
    """A failed message is retried before anything after it in its group."""

    def test_each_group_is_processed_in_send_order_after_a_retry(self, clients, unique):
        # GIVEN two groups on a FIFO queue, and a consumer that fails A2 once
        url, arn = fifo_queue(clients, f"order-{unique}")
        send(clients, url, "A1", "B1", "A2", "B2", "A3", "B3", "A4")
        consumer = FailsOnceThenStops(fail_once="A2")
        # WHEN the mapping drains the queue
        with polling(clients, url, arn, consumer) as poller:
            wait_until(lambda: len(consumer.processed) == 7, what="seven messages processed")
        # THEN A2 failed once, nothing was lost, and each group kept its order
        assert consumer.failed == ["A2"]
        assert [b for b in consumer.processed if b[0] == "A"] == ["A1", "A2", "A3", "A4"]
        assert [b for b in consumer.processed if b[0] == "B"] == ["B1", "B2", "B3"]
        assert poller.errors == []

    def test_a_group_is_never_in_two_batches_at_once(self, clients, unique):
        # GIVEN three groups, batches of two, and five concurrent batches allowed
        url, arn = fifo_queue(clients, f"lock-{unique}")
        bodies = [f"{g}{n}" for n in range(1, 6) for g in "CDE"]
        send(clients, url, *bodies)
        consumer = FailsOnceThenStops(fail_once="D2", wait_for_company=5.0)
        # WHEN the mapping drains them with a slow consumer
        with polling(clients, url, arn, consumer, batch_size=2) as poller:
            wait_until(lambda: len(consumer.processed) == len(bodies), what="all processed")
        # THEN batches ran side by side, yet no group was inside the function twice at once
        assert poller.peak_in_flight > 1
        assert consumer.overlaps == []
        assert poller.errors == []
        for group in "CDE":
            assert [b for b in consumer.processed if b[0] == group] == [
                f"{group}{n}" for n in range(1, 6)
            ]


class TestBrokenContract:
    """A consumer that acknowledges a message after a failed one of its group is reported."""

    def test_acknowledging_past_a_failure_is_a_poller_error(self, clients, unique):
        # GIVEN a consumer that reports only the failed message, not the ones after it
        url, arn = fifo_queue(clients, f"broken-{unique}")
        send(clients, url, "F1", "F2", "F3")
        seen: list[list[str]] = []

        def only_the_failure(event: dict[str, Any], _context: Any) -> dict[str, Any]:
            records = event["Records"]
            seen.append([r["body"] for r in records])
            first = records[0]
            failed = [first["messageId"]] if first["body"] == "F1" and len(seen) == 1 else []
            return {"batchItemFailures": [{"itemIdentifier": m} for m in failed]}

        # WHEN the mapping delivers the batch
        with polling(clients, url, arn, only_the_failure) as poller:
            wait_until(lambda: bool(poller.errors), what="the broken order to be reported")
        # THEN the poller names the messages Lambda deleted ahead of the failed one
        (error,) = poller.errors
        assert error.startswith("FIFO order broken")
        assert "services-sqs-errorhandling" in error


class TestChecks:
    """The two FIFO checks on their own."""

    def test_later_messages_of_a_failed_group_are_out_of_order(self):
        batch = [received("a1", "A"), received("b1", "B"), received("a2", "A"), received("b2", "B")]
        assert acknowledged_out_of_order(batch, {"a1"}) == ["a2"]
        assert acknowledged_out_of_order(batch, {"a1", "a2"}) == []
        assert acknowledged_out_of_order(batch, {"b2"}) == []

    def test_a_group_held_by_another_batch_is_a_clash(self):
        groups = GroupsInFlight()
        assert groups.enter([received("a1", "A"), received("b1", "B")]) == []
        assert groups.enter([received("a2", "A"), received("c1", "C")]) == ["A"]
        groups.leave([received("a1", "A"), received("b1", "B")])
        groups.leave([received("a2", "A"), received("c1", "C")])
        assert groups.enter([received("a3", "A")]) == []

    def test_standard_queue_messages_have_no_group(self):
        groups = GroupsInFlight()
        plain = {"MessageId": "m1", "Attributes": {}}
        assert groups.enter([plain]) == []
        assert groups.enter([plain]) == []
