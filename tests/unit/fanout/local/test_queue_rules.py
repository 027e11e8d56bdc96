"""Each SQS event-source-mapping rule, against queues on the moto server and a fake handler."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from local_hub_fakes import RecordingHandler, wait_until

from fanout.connection import Connection
from fanout.local.invoker import CallableInvoker
from fanout.local.model import FunctionSpec, MappingSpec
from fanout.local.observe import EventLog, InvocationOutcome
from fanout.local.queues import QueuePoller, QueueSettings

CONSUMER = FunctionSpec(name="consumer", handler="consumers.audit_log.app.handler")
FAST = QueueSettings(wait_seconds=0, retry_visibility_seconds=0)


def make_queue(
    clients: Connection, name: str, *, visibility: int = 30, max_receives: int | None = None
) -> tuple[str, str, str | None]:
    """A queue (and a DLQ when ``max_receives`` is set): (url, arn, dlq url)."""
    sqs = clients.client("sqs")
    dlq_url = None
    attributes = {"VisibilityTimeout": str(visibility)}
    if max_receives is not None:
        dlq_url = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
        dlq_arn = arn_of(clients, dlq_url)
        attributes["RedrivePolicy"] = json.dumps(
            {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receives}
        )
    url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    return url, arn_of(clients, url), dlq_url


def arn_of(clients: Connection, url: str) -> str:
    return clients.client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]


def send(clients: Connection, url: str, *bodies: str) -> None:
    for body in bodies:
        clients.client("sqs").send_message(QueueUrl=url, MessageBody=body)


def depth(clients: Connection, url: str) -> int:
    """Visible plus in-flight messages."""
    attributes = clients.client("sqs").get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


@contextmanager
def polling(
    clients: Connection,
    url: str,
    arn: str,
    handler: Any,
    settings: QueueSettings = FAST,
    **mapping: Any,
) -> Iterator[tuple[QueuePoller, EventLog]]:
    log = EventLog()
    poller = QueuePoller(
        MappingSpec(function="consumer", source_arn=arn, **mapping),
        CONSUMER,
        clients.client("sqs"),
        url,
        CallableInvoker({"consumer": handler}),
        observer=log,
        settings=settings,
    )
    stop = threading.Event()
    worker = threading.Thread(target=poller.run, args=(stop,))
    worker.start()
    try:
        yield poller, log
    finally:
        stop.set()
        worker.join(10)
    assert not poller.errors


class TestDeletion:
    """A successful batch is deleted from the queue."""

    def test_every_message_of_a_successful_batch_is_deleted(self, clients, unique):
        url, arn, _ = make_queue(clients, f"ok-{unique}")
        send(clients, url, "a", "b", "c")
        handler = RecordingHandler()
        with polling(clients, url, arn, handler) as (_, log):
            wait_until(lambda: log.count(InvocationOutcome.SUCCEEDED) == 3, what="three successes")
        assert sorted(handler.delivered) == ["a", "b", "c"]
        assert depth(clients, url) == 0

    def test_records_have_lambdas_sqs_event_shape(self, clients, unique):
        url, arn, _ = make_queue(clients, f"shape-{unique}")
        clients.client("sqs").send_message(
            QueueUrl=url,
            MessageBody="hello",
            MessageAttributes={"type": {"DataType": "String", "StringValue": "order.created"}},
        )
        seen: list[dict[str, Any]] = []
        handler = RecordingHandler(seen.extend)
        with polling(clients, url, arn, handler) as (_, log):
            wait_until(lambda: log.count(InvocationOutcome.SUCCEEDED) == 1)
        (record,) = seen
        assert record["eventSource"] == "aws:sqs"
        assert record["eventSourceARN"] == arn
        assert record["awsRegion"] == "us-east-1"
        assert record["attributes"]["ApproximateReceiveCount"] == "1"
        assert {"SentTimestamp", "SenderId", "ApproximateFirstReceiveTimestamp"} <= set(
            record["attributes"]
        )
        assert record["messageAttributes"]["type"]["stringValue"] == "order.created"
        assert record["messageAttributes"]["type"]["dataType"] == "String"
        assert set(record) >= {"messageId", "receiptHandle", "body", "md5OfBody"}


class TestFailures:
    """A failed message stays on the queue and comes back after the visibility timeout."""

    def test_function_error_keeps_the_whole_batch(self, clients, unique):
        url, arn, _ = make_queue(clients, f"err-{unique}", visibility=1)
        send(clients, url, "a", "b")
        attempts: list[int] = []

        def behave(records):
            attempts.append(len(records))
            if len(attempts) == 1:
                raise RuntimeError("downstream unavailable")

        handler = RecordingHandler(behave)
        settings = QueueSettings(wait_seconds=0)  # no shortening: the queue's own timeout rules
        with polling(clients, url, arn, handler, settings, batch_size=10) as (_, log):
            wait_until(lambda: log.count(InvocationOutcome.SUCCEEDED) == 2, what="redelivery")
        retried = next(e for e in log.events if e.outcome is InvocationOutcome.RETRIED)
        assert sorted(retried.bodies) == ["a", "b"]
        redelivered = [e for e in log.events if e.outcome is InvocationOutcome.DELIVERED][-1]
        assert set(redelivered.receive_counts) == {2}

    def test_partial_response_keeps_only_reported_messages(self, clients, unique):
        url, arn, _ = make_queue(clients, f"partial-{unique}")
        send(clients, url, "good", "bad")

        def behave(records):
            bad = [r["messageId"] for r in records if r["body"] == "bad"]
            return {"batchItemFailures": [{"itemIdentifier": i} for i in bad]}

        handler = RecordingHandler(behave)
        with polling(
            clients, url, arn, handler, function_response_types=("ReportBatchItemFailures",)
        ) as (_, log):
            wait_until(
                lambda: log.count(InvocationOutcome.RETRIED) >= 2, what="two failed deliveries"
            )
        assert "good" in [
            b for e in log.events if e.outcome is InvocationOutcome.SUCCEEDED for b in e.bodies
        ]
        assert handler.delivered.count("good") == 1
        assert handler.delivered.count("bad") >= 2

    def test_an_invalid_identifier_keeps_the_whole_batch(self, clients, unique):
        url, arn, _ = make_queue(clients, f"invalid-{unique}")
        send(clients, url, "only")
        answers = [{"batchItemFailures": [{"itemIdentifier": "not-a-message-id"}]}]
        handler = RecordingHandler(lambda _records: answers.pop() if answers else None)
        with polling(
            clients, url, arn, handler, function_response_types=("ReportBatchItemFailures",)
        ) as (_, log):
            wait_until(lambda: log.count(InvocationOutcome.SUCCEEDED) == 1)
        assert handler.delivered == ["only", "only"]
        assert "not in the batch" in next(
            e.detail for e in log.events if e.outcome is InvocationOutcome.RETRIED
        )

    def test_redrive_policy_moves_a_poison_message_to_the_dlq(self, clients, unique):
        url, arn, dlq_url = make_queue(clients, f"redrive-{unique}", max_receives=2)
        assert dlq_url is not None
        send(clients, url, "poison", "fine")

        def behave(records):
            if any(r["body"] == "poison" for r in records):
                raise ValueError("cannot process")

        handler = RecordingHandler(behave)
        with polling(clients, url, arn, handler, batch_size=1):
            wait_until(lambda: depth(clients, dlq_url) == 1, what="the DLQ to receive it")
            wait_until(lambda: depth(clients, url) == 0, what="the queue to drain")
        assert handler.delivered.count("poison") == 2  # maxReceiveCount receives, then the DLQ
        (dead,) = clients.client("sqs").receive_message(QueueUrl=dlq_url)["Messages"]
        assert dead["Body"] == "poison"


class TestBatching:
    """BatchSize and the batching window shape each invocation."""

    def test_batch_size_caps_each_invocation(self, clients, unique):
        url, arn, _ = make_queue(clients, f"size-{unique}")
        send(clients, url, *[str(i) for i in range(5)])
        handler = RecordingHandler()
        with polling(clients, url, arn, handler, batch_size=2) as (_, log):
            wait_until(lambda: log.count(InvocationOutcome.SUCCEEDED) == 5)
        assert max(len(b) for b in handler.batches) == 2

    def test_window_gathers_more_than_one_receive(self, clients, unique):
        url, arn, _ = make_queue(clients, f"window-{unique}")
        send(clients, url, *[str(i) for i in range(25)])
        handler = RecordingHandler()
        with polling(
            clients, url, arn, handler, batch_size=25, maximum_batching_window_seconds=1
        ) as (_, log):
            wait_until(lambda: log.count(InvocationOutcome.SUCCEEDED) == 25)
        assert len(handler.batches[0]) > 10  # more than one ReceiveMessage can return


class TestMaximumConcurrency:
    """ScalingConfig.MaximumConcurrency caps the batches inside the function at once."""

    def test_in_flight_batches_never_exceed_the_maximum(self, clients, unique):
        url, arn, _ = make_queue(clients, f"conc-{unique}")
        send(clients, url, *[str(i) for i in range(8)])
        # Each batch waits inside the function for a second one, then stays a moment
        # longer: two in flight happen whatever the machine's load, and a third, were
        # the cap not kept, would find both still there.
        pair = threading.Barrier(2)

        def hold(_records: Any) -> None:
            pair.wait(timeout=30)
            time.sleep(0.15)

        handler = RecordingHandler(hold)
        with polling(clients, url, arn, handler, batch_size=1, maximum_concurrency=2) as (
            poller,
            log,
        ):
            wait_until(lambda: log.count(InvocationOutcome.SUCCEEDED) == 8, what="all eight")
        assert poller.peak_in_flight == 2
