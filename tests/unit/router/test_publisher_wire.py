"""What the publisher puts on the wire: botocore's exact body, valid requests, a bounded pool."""

from __future__ import annotations

import threading

import boto3
import botocore.awsrequest
import pytest
from botocore.config import Config
from botocore.validate import ParamValidator
from hypothesis import given
from hypothesis import strategies as st
from support.builders import a_stream_record
from support.queues import drain

from router.deadline import Deadline
from router.normalise import EntityRules, Outbound, to_outbound
from router.publisher import SnsPublisher, form_body

REGION = "us-east-1"
# Text that every escaping rule touches: space, '+', '%', '&', '=', non-ASCII, astral, control.
TRICKY = ["a b+c%20d&e=f", "Zürich \u2013 東京 🚀", "tab\tnew\nline\x7f", "~safe-._", "", "%%++  "]


def botocore_body(fields: dict[str, str]) -> bytes:
    """What botocore itself makes of a query-protocol field dict."""
    body = botocore.awsrequest.AWSRequest(method="POST", url="https://sns", data=fields).body
    assert isinstance(body, bytes)
    return body


def tricky_messages() -> list[Outbound]:
    out = []
    for i, text in enumerate(TRICKY):
        record = a_stream_record(
            "MODIFY",
            keys={"pk": f"ORDER#{i} {text}", "sk": text or "-"},
            new={"pk": f"ORDER#{i} {text}", "sk": text or "-", "note": text, "n": i},
            old={"pk": f"ORDER#{i} {text}", "sk": text or "-", "note": "before", "n": i},
        )
        out.append(to_outbound(record, EntityRules()))
    return out


class TestFormBody:
    """The body encoded once by the publisher is byte for byte the one botocore would send."""

    def test_tricky_fields_encode_exactly_as_botocore_does(self):
        fields = {f"K.{i}": text for i, text in enumerate(TRICKY)} | {"Action": "PublishBatch"}
        assert form_body(fields) == botocore_body(fields)

    @given(st.dictionaries(st.text(max_size=20), st.text(max_size=300), max_size=12))
    def test_any_text_encodes_exactly_as_botocore_does(self, fields):
        assert form_body(fields) == botocore_body(fields)


class TestOnTheWire:
    """Through a real botocore client (moto behind it): messages arrive intact, encoded once."""

    def test_tricky_messages_arrive_unchanged_and_the_body_is_encoded_once(self, aws, monkeypatch):
        # GIVEN a topic with a raw-delivery queue, and a count of botocore's own encodings
        sns, sqs = boto3.client("sns", region_name=REGION), boto3.client("sqs", region_name=REGION)
        topic = sns.create_topic(Name="hub")["TopicArn"]
        queue = sqs.create_queue(QueueName="sink")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])
        sns.subscribe(
            TopicArn=topic,
            Protocol="sqs",
            Endpoint=queue_arn["Attributes"]["QueueArn"],
            Attributes={"RawMessageDelivery": "true"},
        )
        encodings = []
        original = botocore.awsrequest.urlencode
        monkeypatch.setattr(
            botocore.awsrequest,
            "urlencode",
            lambda *a, **k: encodings.append(1) or original(*a, **k),
        )
        messages = tricky_messages()

        # WHEN the publisher sends them
        outcome = SnsPublisher(sns, topic, 262_144).publish_all(messages, Deadline.after(30))

        # THEN every one arrives with its body and attributes as built, and botocore never
        # re-encoded a PublishBatch body
        assert len(outcome.published) == len(messages)
        assert encodings == []
        received = drain(sqs, queue)
        by_body = {m["Body"]: m for m in received}
        assert sorted(by_body) == sorted(m.body for m in messages)
        for message in messages:
            attributes = by_body[message.body]["MessageAttributes"]
            assert {
                name: {"DataType": a["DataType"], "StringValue": a["StringValue"]}
                for name, a in attributes.items()
            } == message.attributes

    def test_two_publishers_on_one_client_encode_once_each_call(self, aws, monkeypatch):
        sns = boto3.client("sns", region_name=REGION)
        topic = sns.create_topic(Name="hub")["TopicArn"]
        first, second = SnsPublisher(sns, topic, 262_144), SnsPublisher(sns, topic, 262_144)
        seen: list[object] = []
        sns.meta.events.register(
            "before-send.sns.PublishBatch", lambda request, **_: seen.append(request.body)
        )
        first.publish_all(tricky_messages()[:2], Deadline.after(30))
        second.publish_all(tricky_messages()[2:4], Deadline.after(30))
        assert len(seen) == 2
        assert all(isinstance(body, bytes) for body in seen)


class RecordingSns:
    """Keeps each PublishBatch request and accepts every entry."""

    def __init__(self) -> None:
        self.requests: list[dict] = []

    def publish_batch(self, **request):
        self.requests.append(request)
        entries = request["PublishBatchRequestEntries"]
        return {"Successful": [{"Id": e["Id"]} for e in entries], "Failed": []}


class TestRequestsAreValid:
    """Every request the publisher builds passes botocore's parameter validation.

    This is what makes ``parameter_validation=False`` on the publishing client safe:
    the router builds each field itself, and this test holds it to the service model.
    """

    @pytest.mark.parametrize(
        "topic",
        ["arn:aws:sns:us-east-1:123456789012:hub", "arn:aws:sns:us-east-1:123456789012:hub.fifo"],
    )
    def test_every_publish_batch_request_is_valid(self, topic):
        records = [
            a_stream_record("INSERT"),
            a_stream_record("MODIFY"),
            a_stream_record("REMOVE"),
            a_stream_record("REMOVE", ttl=True),
            a_stream_record("MODIFY", view="KEYS_ONLY"),
            a_stream_record(
                "INSERT", view="NEW_IMAGE", new={"pk": "A#1", "sk": "b", "s": {"x", "y"}}
            ),
        ]
        messages = [to_outbound(r, EntityRules()) for r in records] + tricky_messages()
        sns = RecordingSns()
        SnsPublisher(sns, topic, 262_144).publish_all(messages, Deadline.after(30))  # type: ignore[arg-type]
        model = boto3.client("sns", region_name=REGION).meta.service_model
        shape = model.operation_model("PublishBatch").input_shape
        report = [ParamValidator().validate(request, shape) for request in sns.requests]
        assert sum(len(r["PublishBatchRequestEntries"]) for r in sns.requests) == len(messages)
        assert [r.generate_report() for r in report if r.has_errors()] == []


class FlakySns:
    """Thread-safe: fails the first attempt of the flaky bodies; records the largest overlap."""

    def __init__(self, flaky: set[str]) -> None:
        self.flaky = flaky
        self.lock = threading.Lock()
        self.attempts: dict[str, int] = {}
        self.in_flight = self.most_in_flight = self.calls = 0

    def publish_batch(self, TopicArn, PublishBatchRequestEntries):  # noqa: N803 - boto3's names
        with self.lock:
            self.calls += 1
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        ok, failed = [], []
        for entry in PublishBatchRequestEntries:
            with self.lock:
                seen = self.attempts[entry["Message"]] = self.attempts.get(entry["Message"], 0) + 1
            flaky = entry["Message"] in self.flaky
            (failed if flaky and seen == 1 else ok).append(
                {"Id": entry["Id"], "Code": "InternalError", "SenderFault": False}
            )
        with self.lock:
            self.in_flight -= 1
        return {"Successful": ok, "Failed": failed}


class TestConcurrency:
    """Parallel calls never outnumber the client's connection pool; every message counted once."""

    def test_parallel_calls_account_for_every_message_once_call_after_call(self):
        # GIVEN two batches of 95 messages, every third one failing its first attempt
        rounds = [
            [
                to_outbound(a_stream_record(keys={"pk": f"A#{i}", "sk": "s"}), EntityRules())
                for i in range(start, start + 95)
            ]
            for start in (0, 1000)
        ]
        sns = FlakySns({m.body for messages in rounds for m in messages[::3]})
        publisher = SnsPublisher(
            sns,  # type: ignore[arg-type]
            "arn:aws:sns:us-east-1:123456789012:hub",
            262_144,
            concurrency=4,
            sleep=lambda _s: None,
        )
        # WHEN each is published (the second call reuses the first call's threads)
        for messages in rounds:
            outcome = publisher.publish_all(messages, Deadline.after(30))
            # THEN each message is published exactly once, none failed
            assert sorted(m.envelope_id for m in outcome.published) == sorted(
                m.envelope_id for m in messages
            )
            assert outcome.failed == []
            assert outcome.rejected == []
        # 10 calls per 95 messages, plus one retry call for each batch holding a flaky message
        assert sns.calls == 2 * (10 + 10)
        assert 1 <= sns.most_in_flight <= 4

    def test_concurrency_is_capped_by_the_connection_pool(self):
        sns = boto3.client("sns", region_name=REGION, config=Config(max_pool_connections=4))
        publisher = SnsPublisher(
            sns, "arn:aws:sns:us-east-1:123456789012:hub", 262_144, concurrency=8
        )
        assert publisher.concurrency == 4

    def test_a_fifo_topic_publishes_one_call_at_a_time(self):
        sns = boto3.client("sns", region_name=REGION)
        publisher = SnsPublisher(sns, "arn:aws:sns:us-east-1:123456789012:hub.fifo", 262_144)
        assert publisher.concurrency == 1
