"""The router against moto: what reaches the topic, the DLQ and the bucket."""

from __future__ import annotations

import json
from typing import Any
from unittest import mock

import boto3
import botocore.session
import pytest
from structlog.testing import capture_logs
from support.builders import FakeContext, a_batch, a_stream_record, load_event
from support.faults import PublishBatchFaults
from support.queues import drain

from router import app
from router.core import IncompleteBatchError
from schemas import parse_envelope

REGION = "us-east-1"


class Hub:
    """A topic with one raw-delivery queue subscribed, a router DLQ and a payload bucket."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, fifo: bool = False) -> None:
        self.sns = boto3.client("sns", region_name=REGION)
        self.sqs = boto3.client("sqs", region_name=REGION)
        self.s3 = boto3.client("s3", region_name=REGION)
        suffix = ".fifo" if fifo else ""
        attrs = {"FifoTopic": "true", "ContentBasedDeduplication": "false"} if fifo else {}
        self.topic_arn = self.sns.create_topic(Name=f"hub{suffix}", Attributes=attrs)["TopicArn"]
        qattrs = {"FifoQueue": "true"} if fifo else {}
        self.queue_url = self.sqs.create_queue(QueueName=f"sink{suffix}", Attributes=qattrs)[
            "QueueUrl"
        ]
        queue_arn = self.sqs.get_queue_attributes(
            QueueUrl=self.queue_url, AttributeNames=["QueueArn"]
        )["Attributes"]["QueueArn"]
        self.sns.subscribe(
            TopicArn=self.topic_arn,
            Protocol="sqs",
            Endpoint=queue_arn,
            Attributes={"RawMessageDelivery": "true"},
        )
        self.dlq_url = self.sqs.create_queue(QueueName="router-dlq")["QueueUrl"]
        self.bucket = "fanout-payloads-test"
        self.s3.create_bucket(Bucket=self.bucket)
        monkeypatch.setenv("TOPIC_ARN", self.topic_arn)
        monkeypatch.setenv("ROUTER_DLQ_URL", self.dlq_url)
        monkeypatch.setenv("PAYLOAD_BUCKET", self.bucket)
        app.build_router.cache_clear()
        app.build_router()  # the cold start, before any capture_logs() in a test

    def route(self, event, remaining_ms: int = 30_000):
        return app.handler(event, FakeContext(remaining_ms))

    def drain(self, url: str | None = None) -> list[dict]:
        return drain(self.sqs, url or self.queue_url)

    def published(self):
        return [parse_envelope(m["Body"]) for m in self.drain()]

    def dead_letters(self):
        return [json.loads(m["Body"]) for m in self.drain(self.dlq_url)]


@pytest.fixture
def hub(aws, monkeypatch):
    h = Hub(monkeypatch)
    yield h
    app.build_router.cache_clear()


def publisher_client():
    """The SNS client the router publishes with: the one botocore builds for a new router."""
    built: list[Any] = []
    create = botocore.session.Session.create_client

    def recording(self: botocore.session.Session, service_name: str, *args: Any, **kwargs: Any):
        client = create(self, service_name, *args, **kwargs)
        built.append(client)
        return client

    app.build_router.cache_clear()
    with mock.patch.object(botocore.session.Session, "create_client", recording):
        app.build_router()  # the container's router, cached: the handler routes with it
    (sns,) = [c for c in built if c.meta.service_model.service_name == "sns"]
    return sns


class TestPublishing:
    """Every record is published exactly once, in few calls."""

    def test_sam_sample_event(self, hub):
        response = hub.route(load_event("dynamodb-update.json"))
        assert response == {"batchItemFailures": []}
        types = sorted(e.type for e in hub.published())
        assert types == [
            "exampletablewithstream.created",
            "exampletablewithstream.deleted",
            "exampletablewithstream.updated",
        ]

    def test_260_records_in_one_batch_are_published_exactly_once(self, hub):
        records = [a_stream_record(keys={"pk": f"ORDER#{i}", "sk": "META"}) for i in range(260)]
        faults = PublishBatchFaults().install(publisher_client())
        with capture_logs() as logs:
            assert hub.route(a_batch(*records)) == {"batchItemFailures": []}
        envelopes = hub.published()
        assert len(envelopes) == 260
        assert sorted(e.subject for e in envelopes) == sorted(
            json.dumps({"pk": f"ORDER#{i}", "sk": "META"}, separators=(",", ":"))
            for i in range(260)
        )
        assert faults.calls == 26  # 10 entries per call
        summary = next(e for e in logs if e["event"] == "batch_routed")
        assert summary["published"] == 260
        assert summary["sns_calls"] == 26
        assert summary["table"] == "Orders"

    def test_message_attributes_reach_the_subscriber(self, hub):
        hub.route(a_batch(a_stream_record("MODIFY")))
        (message,) = hub.drain()
        attrs = {k: v["StringValue"] for k, v in message["MessageAttributes"].items()}
        assert attrs["type"] == "order.updated"
        assert attrs["operation"] == "updated"
        assert attrs["schemaversion"] == "1"

    def test_summary_log_never_carries_item_images(self, hub):
        secret = "4111-1111-1111-1111"
        with capture_logs() as logs:
            hub.route(a_batch(a_stream_record(new={"pk": "A#1", "sk": "s", "card": secret})))
        assert logs
        assert all(
            secret not in json.dumps(entry, default=str)
            for entry in logs
            if entry["log_level"] != "debug"
        )


class TestRetries:
    """Failed entries and throttled calls are retried; what cannot go out is checkpointed."""

    def test_failed_entries_are_retried_and_published_once(self, hub):
        records = [a_stream_record(keys={"pk": f"ORDER#{i}", "sk": "x"}) for i in range(30)]
        flaky = set(range(0, 30, 4))
        bodies: dict[str, int] = {}

        def fail_first_two_attempts(body, attempt):
            index = bodies.setdefault(body, len(bodies))
            return ("InternalError", False) if index in flaky and attempt < 2 else None

        faults = PublishBatchFaults(fail_entry=fail_first_two_attempts).install(publisher_client())
        assert hub.route(a_batch(*records)) == {"batchItemFailures": []}
        envelopes = hub.published()
        assert len(envelopes) == 30
        assert len({e.id for e in envelopes}) == 30
        assert faults.calls > 3

    def test_throttled_calls_are_retried(self, hub):
        faults = PublishBatchFaults(fail_call=lambda n: "Throttling" if n <= 2 else None)
        faults.install(publisher_client())
        assert hub.route(a_batch(a_stream_record(), a_stream_record())) == {"batchItemFailures": []}
        assert len(hub.published()) == 2
        assert faults.calls == 3

    def test_still_failing_entries_report_the_earliest_sequence_number(self, hub):
        records = [a_stream_record(keys={"pk": f"ORDER#{i}", "sk": "x"}) for i in range(12)]
        doomed = {
            records[7]["dynamodb"]["SequenceNumber"],
            records[3]["dynamodb"]["SequenceNumber"],
        }

        def always_fail_doomed(body, _attempt):
            envelope = json.loads(body)
            return ("InternalError", False) if envelope["sequence"].lstrip("0") in doomed else None

        PublishBatchFaults(fail_entry=always_fail_doomed).install(publisher_client())
        response = hub.route(a_batch(*records), remaining_ms=2_500)
        assert response == {
            "batchItemFailures": [{"itemIdentifier": records[3]["dynamodb"]["SequenceNumber"]}]
        }
        assert len(hub.published()) == 10  # the rest went out; Lambda resends from record 3
        assert hub.dead_letters() == []

    def test_deleted_topic_fails_the_batch_from_its_first_record(self, hub):
        hub.sns.delete_topic(TopicArn=hub.topic_arn)
        records = [a_stream_record(), a_stream_record()]
        response = hub.route(a_batch(*records))
        assert response == {
            "batchItemFailures": [{"itemIdentifier": records[0]["dynamodb"]["SequenceNumber"]}]
        }
        assert hub.dead_letters() == []

    def test_sender_fault_entries_go_to_the_dlq_not_back_to_the_shard(self, hub):
        good, bad = a_stream_record(), a_stream_record(keys={"pk": "BAD#1", "sk": "x"})

        def reject_bad(body, _attempt):
            return ("InvalidParameter", True) if "BAD#1" in body else None

        PublishBatchFaults(fail_entry=reject_bad).install(publisher_client())
        assert hub.route(a_batch(good, bad)) == {"batchItemFailures": []}
        assert len(hub.published()) == 1
        (letter,) = hub.dead_letters()
        assert letter["reason"] == "rejected"
        assert "InvalidParameter" in letter["error"]["message"]
        assert letter["record"] == bad


class TestPoison:
    """A record that can never normalise is kept whole in the DLQ; the batch goes on."""

    def test_poison_between_two_good_records(self, hub):
        first, second = a_stream_record(), a_stream_record()
        poison = a_stream_record()
        poison["dynamodb"]["NewImage"]["weird"] = {"X": "?"}
        with capture_logs() as logs:
            response = hub.route(a_batch(first, poison, second))
        assert response == {"batchItemFailures": []}
        assert sorted(e.sequence.lstrip("0") for e in hub.published()) == [
            first["dynamodb"]["SequenceNumber"],
            second["dynamodb"]["SequenceNumber"],
        ]
        (letter,) = hub.dead_letters()
        assert letter["record"] == poison
        assert letter["reason"] == "poison"
        assert letter["error"] == {
            "kind": "PoisonRecordError",
            "message": "dynamodb.NewImage.weird: unknown attribute type X",
        }
        assert letter["sequence_number"] == poison["dynamodb"]["SequenceNumber"]
        assert letter["request_id"] == "req-0001"
        assert any(e["event"] == "record_dead_lettered" for e in logs)

    def test_poison_is_reported_for_retry_when_the_dlq_is_unreachable(self, hub):
        hub.sqs.delete_queue(QueueUrl=hub.dlq_url)
        good, poison = a_stream_record(), a_stream_record()
        del poison["dynamodb"]["Keys"]
        response = hub.route(a_batch(good, poison))
        assert response == {
            "batchItemFailures": [{"itemIdentifier": poison["dynamodb"]["SequenceNumber"]}]
        }

    def test_unidentifiable_record_that_cannot_be_kept_fails_the_whole_batch(self, hub):
        hub.sqs.delete_queue(QueueUrl=hub.dlq_url)
        with pytest.raises(IncompleteBatchError):
            hub.route({"Records": [{"garbage": True}]})

    def test_an_event_that_is_not_a_stream_batch_is_refused(self, hub):
        with pytest.raises(TypeError, match="Records"):
            hub.route({"hello": "world"})


class TestOversize:
    """An envelope over the topic's limit travels by claim check."""

    def test_300_kb_item_is_stored_in_s3_and_a_pointer_published(self, hub):
        big = a_stream_record(
            keys={"pk": "DOC#1", "sk": "v1"}, new={"pk": "DOC#1", "sk": "v1", "blob": "x" * 300_000}
        )
        small = a_stream_record()
        assert hub.route(a_batch(big, small)) == {"batchItemFailures": []}
        envelopes = {e.subject: e for e in hub.published()}
        pointer = envelopes['{"pk":"DOC#1","sk":"v1"}']
        assert pointer.is_pointer
        assert pointer.type == "doc.created"
        bucket, key = pointer.dataref.removeprefix("s3://").split("/", 1)
        assert bucket == hub.bucket
        stored = parse_envelope(hub.s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        assert stored.id == pointer.id
        assert stored.data.new["blob"] == "x" * 300_000
        assert not envelopes['{"pk":"ORDER#42","sk":"META"}'].is_pointer

    def test_a_raised_topic_limit_publishes_large_envelopes_inline(self, hub, monkeypatch):
        # moto does not model the topic's MaximumMessageSize attribute; raise its fixed
        # 256 KiB check the way a topic with MaximumMessageSize=1048576 behaves.
        monkeypatch.setattr("moto.sns.models.MAXIMUM_MESSAGE_LENGTH", 1_048_576)
        monkeypatch.setenv("MAX_MESSAGE_BYTES", "1048576")
        app.build_router.cache_clear()
        big = a_stream_record(
            keys={"pk": "DOC#2", "sk": "v1"}, new={"pk": "DOC#2", "sk": "v1", "blob": "y" * 300_000}
        )
        faults = PublishBatchFaults().install(publisher_client())
        assert hub.route(a_batch(big)) == {"batchItemFailures": []}
        assert faults.calls == 1
        (envelope,) = hub.published()
        assert envelope.data.new["blob"] == "y" * 300_000
        assert hub.s3.list_objects_v2(Bucket=hub.bucket).get("KeyCount", 0) == 0

    def test_claim_check_failure_is_retried_by_the_shard(self, hub):
        hub.s3.delete_bucket(Bucket=hub.bucket)
        big = a_stream_record(
            keys={"pk": "DOC#3", "sk": "v1"}, new={"pk": "DOC#3", "sk": "v1", "blob": "z" * 300_000}
        )
        response = hub.route(a_batch(a_stream_record(), big))
        assert response == {
            "batchItemFailures": [{"itemIdentifier": big["dynamodb"]["SequenceNumber"]}]
        }


class TestFifo:
    """On a FIFO topic each message carries its item's group and a dedup id."""

    def test_fifo_publishing(self, aws, monkeypatch):
        hub = Hub(monkeypatch, fifo=True)
        records = [a_stream_record("MODIFY") for _ in range(3)]
        assert hub.route(a_batch(*records)) == {"batchItemFailures": []}
        got = hub.drain()
        assert [parse_envelope(m["Body"]).sequence.lstrip("0") for m in got] == [
            r["dynamodb"]["SequenceNumber"] for r in records
        ]
        app.build_router.cache_clear()
