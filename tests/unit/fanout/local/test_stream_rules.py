"""Each DynamoDB-stream event-source-mapping rule, against a fake shard and a fake handler."""

from __future__ import annotations

import json
import re
import threading
from typing import Any

import pytest
from local_hub_fakes import STREAM_ARN, FakeShard, RecordingHandler, seq, stream_record
from support.waiting import eventually

from fanout.connection import Connection
from fanout.local.failure import FailureDestination
from fanout.local.invoker import CallableInvoker
from fanout.local.model import FunctionSpec, MappingSpec
from fanout.local.observe import EventLog, InvocationOutcome
from fanout.local.streams import ShardPoller, StreamSettings

FAST = StreamSettings(poll_interval_seconds=0.01, retry_backoff_seconds=0.0)
ROUTER = FunctionSpec(name="router", handler="router.app.handler", timeout_seconds=30)


def run_to_end(
    handler: RecordingHandler,
    records: list[dict[str, Any]],
    *,
    destination: FailureDestination | None = None,
    **mapping: Any,
) -> EventLog:
    """Feed ``records`` to a closed fake shard and run its poller until everything resolved."""
    shard = FakeShard()
    shard.add(*records)
    shard.close_when_empty = True
    log = EventLog()
    poller = ShardPoller(
        MappingSpec(function="router", source_arn=STREAM_ARN, **mapping),
        ROUTER,
        shard,
        CallableInvoker({"router": handler}),
        destination=destination,
        observer=log,
        settings=FAST,
    )
    stop = threading.Event()
    worker = threading.Thread(target=poller.run, args=(stop,))
    worker.start()
    worker.join(20)
    stop.set()
    assert not worker.is_alive(), "the poller did not finish the shard"
    return log


def failing_on(*bad: int):
    """A handler behaviour that raises when the batch holds one of the ``bad`` records."""

    def behave(records: list[dict[str, Any]]) -> None:
        if any(r["dynamodb"]["SequenceNumber"] in {seq(b) for b in bad} for r in records):
            raise RuntimeError("poison")

    return behave


class TestOrderAndBatchSize:
    """Records of a shard arrive in order, in batches of at most BatchSize."""

    def test_batches_follow_the_stream_order_and_size(self):
        handler = RecordingHandler()
        run_to_end(handler, [stream_record(i) for i in range(7)], batch_size=3)
        assert handler.batches == [
            [seq(0), seq(1), seq(2)],
            [seq(3), seq(4), seq(5)],
            [seq(6)],
        ]

    def test_default_batch_size_is_100(self):
        handler = RecordingHandler()
        run_to_end(handler, [stream_record(i) for i in range(150)])
        assert [len(b) for b in handler.batches] == [100, 50]


class TestBatchingWindow:
    """MaximumBatchingWindowInSeconds waits for more records before invoking."""

    def _deliver_in_two_waves(self, window: float, batch_size: int = 10) -> RecordingHandler:
        shard = FakeShard()
        handler = RecordingHandler()
        poller = ShardPoller(
            MappingSpec(
                function="router",
                source_arn=STREAM_ARN,
                batch_size=batch_size,
                maximum_batching_window_seconds=window,
            ),
            ROUTER,
            shard,
            CallableInvoker({"router": handler}),
            observer=EventLog(),
            settings=FAST,
        )
        stop = threading.Event()
        worker = threading.Thread(target=poller.run, args=(stop,))
        shard.add(stream_record(0), stream_record(1))
        worker.start()
        # The second wave arrives only once the poller holds the first (with a window) or
        # has sent it (without one): the order is the rule under test, not the timing.
        assert shard.read.wait(10)
        if not window:
            eventually(lambda: handler.batches)
        shard.add(stream_record(2))
        shard.close_when_empty = True
        worker.join(10)
        stop.set()
        return handler

    def test_window_gathers_records_arriving_within_it(self):
        # A window far longer than any scheduling delay; the batch is full (3 records) as
        # soon as the second wave joins it, so the test does not wait the window out.
        handler = self._deliver_in_two_waves(window=30.0, batch_size=3)
        assert handler.batches == [[seq(0), seq(1), seq(2)]]

    def test_without_window_records_are_sent_as_soon_as_read(self):
        handler = self._deliver_in_two_waves(window=0)
        assert handler.batches == [[seq(0), seq(1)], [seq(2)]]


class TestReportBatchItemFailures:
    """A partial response checkpoints at the lowest reported sequence number."""

    def test_shard_resumes_at_the_reported_record(self):
        calls: list[int] = []

        def behave(records):
            calls.append(len(records))
            if len(calls) == 1:
                return {"batchItemFailures": [{"itemIdentifier": seq(3)}]}
            return {"batchItemFailures": []}

        handler = RecordingHandler(behave)
        log = run_to_end(
            handler,
            [stream_record(i) for i in range(5)],
            function_response_types=("ReportBatchItemFailures",),
        )
        assert handler.batches == [[seq(i) for i in range(5)], [seq(3), seq(4)]]
        assert log.identifiers(InvocationOutcome.SUCCEEDED) == [seq(i) for i in range(5)]

    def test_several_failures_resume_at_the_lowest(self):
        def behave(records):
            if len(records) == 5:
                return {
                    "batchItemFailures": [{"itemIdentifier": seq(4)}, {"itemIdentifier": seq(1)}]
                }
            return None

        handler = RecordingHandler(behave)
        run_to_end(
            handler,
            [stream_record(i) for i in range(5)],
            function_response_types=("ReportBatchItemFailures",),
        )
        assert handler.batches[1] == [seq(1), seq(2), seq(3), seq(4)]

    @pytest.mark.parametrize(
        "response",
        [
            {"batchItemFailures": [{"itemIdentifier": ""}]},
            {"batchItemFailures": [{"itemIdentifier": None}]},
            {"batchItemFailures": [{"wrongKey": "101"}]},
            {"batchItemFailures": [{"itemIdentifier": "999999"}]},
        ],
    )
    def test_an_invalid_identifier_fails_the_whole_batch(self, response):
        answers = [response]
        handler = RecordingHandler(lambda _records: answers.pop() if answers else None)
        run_to_end(
            handler,
            [stream_record(i) for i in range(3)],
            function_response_types=("ReportBatchItemFailures",),
        )
        assert handler.batches == [[seq(0), seq(1), seq(2)]] * 2

    def test_response_is_ignored_unless_the_mapping_enables_it(self):
        handler = RecordingHandler(
            lambda _records: {"batchItemFailures": [{"itemIdentifier": seq(0)}]}
        )
        log = run_to_end(handler, [stream_record(0)])
        assert handler.batches == [[seq(0)]]
        assert log.identifiers(InvocationOutcome.SUCCEEDED) == [seq(0)]


class TestRetriesAndDestination:
    """MaximumRetryAttempts bounds retries; then the OnFailure destination gets the batch."""

    def test_failing_batch_is_retried_then_discarded(self):
        handler = RecordingHandler(failing_on(1))
        log = run_to_end(handler, [stream_record(0), stream_record(1)], maximum_retry_attempts=2)
        assert len(handler.batches) == 3  # the first attempt and two retries
        assert log.identifiers(InvocationOutcome.DISCARDED) == [seq(0), seq(1)]
        assert "RetryAttemptsExhausted" in log.events[-1].detail

    def test_shard_moves_on_after_a_discard(self):
        handler = RecordingHandler(failing_on(0))
        log = run_to_end(
            handler, [stream_record(0), stream_record(1)], batch_size=1, maximum_retry_attempts=0
        )
        assert log.identifiers(InvocationOutcome.DISCARDED) == [seq(0)]
        assert log.identifiers(InvocationOutcome.SUCCEEDED) == [seq(1)]

    def test_old_records_are_discarded_without_invoking(self):
        handler = RecordingHandler()
        log = run_to_end(
            handler,
            [stream_record(0, age_seconds=120), stream_record(1)],
            maximum_record_age_seconds=60,
        )
        assert handler.batches == [[seq(1)]]
        assert log.identifiers(InvocationOutcome.DISCARDED) == [seq(0)]
        assert "RecordAgeExceeded" in next(
            e.detail for e in log.events if e.outcome is InvocationOutcome.DISCARDED
        )


class TestBisect:
    """BisectBatchOnFunctionError halves a failing batch until the bad record is alone."""

    def test_only_the_poison_record_is_discarded(self):
        handler = RecordingHandler(failing_on(2))
        log = run_to_end(
            handler,
            [stream_record(i) for i in range(4)],
            bisect_batch_on_function_error=True,
            maximum_retry_attempts=0,
        )
        assert handler.batches == [
            [seq(0), seq(1), seq(2), seq(3)],
            [seq(0), seq(1)],
            [seq(2), seq(3)],
            [seq(2)],
            [seq(3)],
        ]
        assert log.identifiers(InvocationOutcome.DISCARDED) == [seq(2)]
        assert sorted(log.identifiers(InvocationOutcome.SUCCEEDED)) == [seq(0), seq(1), seq(3)]

    def test_splitting_does_not_consume_the_retry_quota(self):
        handler = RecordingHandler(failing_on(1))
        run_to_end(
            handler,
            [stream_record(0), stream_record(1)],
            bisect_batch_on_function_error=True,
            maximum_retry_attempts=1,
        )
        # [0,1] fails and splits (free); [0] succeeds; [1] fails once and is retried once.
        assert handler.batches == [[seq(0), seq(1)], [seq(0)], [seq(1)], [seq(1)]]


class TestOnFailureDestinations:
    """The discarded-batch record has Lambda's documented shape for each destination type."""

    def test_sqs_destination_gets_metadata_only(self, clients: Connection, unique: str):
        sqs = clients.client("sqs")
        url = sqs.create_queue(QueueName=f"onfail-{unique}")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        run_to_end(
            RecordingHandler(failing_on(0)),
            [stream_record(0), stream_record(1)],
            destination=FailureDestination(arn, clients, "esm-uuid"),
            maximum_retry_attempts=0,
        )
        (message,) = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1)["Messages"]
        record = json.loads(message["Body"])
        assert set(record) == {
            "requestContext",
            "responseContext",
            "version",
            "timestamp",
            "DDBStreamBatchInfo",
        }
        assert record["requestContext"]["condition"] == "RetryAttemptsExhausted"
        assert record["requestContext"]["approximateInvokeCount"] == 1
        assert record["requestContext"]["functionArn"] == ROUTER.function_arn
        assert record["responseContext"] == {
            "statusCode": 200,
            "executedVersion": "$LATEST",
            "functionError": "Unhandled",
        }
        info = record["DDBStreamBatchInfo"]
        assert info["shardId"] == FakeShard.shard_id
        assert (info["startSequenceNumber"], info["endSequenceNumber"]) == (seq(0), seq(1))
        assert info["batchSize"] == 2
        assert info["streamArn"] == STREAM_ARN
        assert re.fullmatch(
            r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", info["approximateArrivalOfFirstRecord"]
        )
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", record["timestamp"])

    def test_s3_destination_gets_the_batch_under_lambdas_key(
        self, clients: Connection, unique: str
    ):
        s3 = clients.client("s3")
        bucket = f"onfail-{unique}"
        s3.create_bucket(Bucket=bucket)
        run_to_end(
            RecordingHandler(failing_on(0)),
            [stream_record(0)],
            destination=FailureDestination(f"arn:aws:s3:::{bucket}", clients, "esm-uuid"),
            maximum_retry_attempts=0,
        )
        (obj,) = s3.list_objects_v2(Bucket=bucket)["Contents"]
        assert re.fullmatch(
            r"aws/lambda/esm-uuid/shardId-00000001700000000000-0000test/\d{4}/\d\d/\d\d/"
            r"\d{4}-\d\d-\d\dT\d\d\.\d\d\.\d\d-[0-9a-f-]{36}",
            obj["Key"],
        )
        record = json.loads(s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read())
        payload = json.loads(record["payload"])
        assert [r["dynamodb"]["SequenceNumber"] for r in payload["Records"]] == [seq(0)]
        assert payload["Records"][0]["eventSourceARN"] == STREAM_ARN
        assert record["DDBStreamBatchInfo"]["batchSize"] == 1

    def test_sns_destination_is_published_to(self, clients: Connection, unique: str):
        sns, sqs = clients.client("sns"), clients.client("sqs")
        topic = sns.create_topic(Name=f"onfail-{unique}")["TopicArn"]
        url = sqs.create_queue(QueueName=f"onfail-sub-{unique}")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        sns.subscribe(
            TopicArn=topic,
            Protocol="sqs",
            Endpoint=queue_arn,
            Attributes={"RawMessageDelivery": "true"},
        )
        run_to_end(
            RecordingHandler(failing_on(0)),
            [stream_record(0)],
            destination=FailureDestination(topic, clients, "esm-uuid"),
            maximum_retry_attempts=0,
        )
        (message,) = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1)["Messages"]
        assert json.loads(message["Body"])["DDBStreamBatchInfo"]["startSequenceNumber"] == seq(0)
