"""A property-based fuzz of the consumer runtime over arbitrary message bodies.

For any batch of bodies (``support.hostile.message_bodies``) the runtime:

- never raises out of the handler;
- accounts for every message exactly once: processed (the function ran on it),
  returned to the queue, or sent to the DLQ whole (the body byte for byte) with its
  error type and reason;
- returns a message to the queue only when retrying can help: here, only when its
  read met an S3 error that passes (``SlowDown``), which the test injects on one key;
- writes no item value to any log line (the bodies carry canary values).

Its size is a parameter: ``FANOUT_FUZZ_EXAMPLES`` (default 60, small enough for
``make test``), e.g. ``FANOUT_FUZZ_EXAMPLES=5000 uv run pytest tests/unit/consumers/test_consumer_fuzz.py``;
``FANOUT_FUZZ_DEADLINE_MS`` makes an example slower than that a failure too.
Wiring is the runtime's own (``Consumer.from_settings``), over fake S3 and SQS
clients, so thousands of examples run in seconds. A quarter as many examples run
through the Lambda handler over moto with idempotency and the stale guard on, where
no fault is injected and so nothing may be returned to the queue.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import os
from types import SimpleNamespace
from typing import Any

import boto3
from botocore.exceptions import ClientError
from consumer_builders import an_envelope, an_sqs_event, an_sqs_record
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto import mock_aws
from support.builders import FakeContext
from support.consumer_tables import create_pk_table
from support.hostile import (
    SQS_REFUSED,
    canaries_in,
    canary,
    message_bodies,
    with_raw_numbers,
)
from support.queues import peek

from consumers.runtime import Consumer, Envelope, Mode, RuntimeSettings, consumer, load_settings
from consumers.runtime.clients import aws_clients
from hubcommon.logs import configure_logging

EXAMPLES = int(os.environ.get("FANOUT_FUZZ_EXAMPLES", "60"))
HUB_BUCKET = "fanout-hub-payloads"
TRUSTED_BUCKET = "trusted-producer-bucket"
OTHER_BUCKET = "someone-elses-bucket"
# The one object whose read fails in a way that passes: retrying can help only there.
FLAKY_KEY = "flaky-object"
DLQ_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/fuzz-consumer-dlq"

BASES = [
    json.loads(an_envelope("INSERT", new={"pk": canary(1), "sk": "META", "card": canary(2)})),
    json.loads(
        an_envelope(
            "MODIFY",
            new={"pk": "ORDER#1", "sk": "META", "email": canary(3)},
            old={"pk": "ORDER#1", "sk": "META", "email": canary(4)},
        )
    ),
    json.loads(an_envelope("REMOVE", old={"pk": "ORDER#2", "sk": "META", "pw": canary(5)})),
]
# Objects in S3, per bucket: a matching full envelope, text that is not JSON, a number
# beyond Decimal's range, a pointer to itself; missing keys read as NoSuchKey.
OBJECTS: dict[str, bytes] = {
    "full.json": json.dumps(BASES[0]).encode(),
    "garbage.json": b"\xff\xfe" + canary(6).encode(),
    "huge.json": with_raw_numbers(
        {**BASES[1], "extra": "@@raw-number-0@@"}, ["1e99999999999999999999"]
    ).encode(),
    "loop.json": json.dumps(
        {k: v for k, v in BASES[0].items() if k != "data"}
        | {"dataref": f"s3://{HUB_BUCKET}/loop.json"}
    ).encode(),
}
BUCKETS = [HUB_BUCKET, TRUSTED_BUCKET, OTHER_BUCKET]
KEYS = [*OBJECTS, FLAKY_KEY, "missing.json"]


class FakeS3:
    """``get_object`` over ``OBJECTS`` in every bucket, S3's error codes for the rest."""

    def get_object(self, *, Bucket: str, Key: str) -> dict[str, Any]:  # noqa: N803 - boto3's names
        if Key == FLAKY_KEY:
            raise ClientError({"Error": {"Code": "SlowDown", "Message": "slow"}}, "GetObject")
        if Key not in OBJECTS:
            raise ClientError({"Error": {"Code": "NoSuchKey", "Message": "gone"}}, "GetObject")
        data = OBJECTS[Key]
        return {"Body": io.BytesIO(data), "ContentLength": len(data)}


class FakeSqs:
    """``send_message`` that keeps what was sent, as SQS would keep it."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self._ids = itertools.count(1)

    def send_message(self, **request: Any) -> dict[str, str]:
        # SQS refuses characters outside its set in the body and String attribute values.
        # https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SendMessage.html
        assert not SQS_REFUSED.search(request["MessageBody"])
        for name, value in request["MessageAttributes"].items():
            assert value.get("StringValue") or value.get("BinaryValue"), name
            assert not SQS_REFUSED.search(value.get("StringValue", "")), name
        self.sent.append(request)
        return {"MessageId": f"dlq-{next(self._ids)}"}


def a_runtime(seen: list[Envelope], sqs: FakeSqs) -> Consumer:
    settings = load_settings(
        RuntimeSettings,
        {
            "CONSUMER_NAME": "fuzz-consumer",
            "DLQ_URL": DLQ_URL,
            "PAYLOAD_BUCKET": HUB_BUCKET,
            "TRUSTED_PAYLOAD_BUCKETS": TRUSTED_BUCKET,
        },
    )
    clients = SimpleNamespace(s3=FakeS3(), sqs=sqs, dynamodb=None)
    return Consumer.from_settings(
        seen.append, settings, clients=clients, mode=Mode.NATURALLY_IDEMPOTENT
    )  # type: ignore[arg-type]


def a_batch(bodies: list[tuple[str, dict[str, str]]]) -> Any:
    records = [
        an_sqs_record(
            body,
            attributes={
                name: {"DataType": "String", "StringValue": value}
                for name, value in attributes.items()
            },
        )
        for body, attributes in bodies
    ]
    return an_sqs_event(*records)


class TestEveryBodyIsAccountedFor:
    """Whatever the bodies, each message is processed, retried for a passing fault, or dead-lettered."""

    @settings(
        max_examples=EXAMPLES,
        deadline=int(os.environ.get("FANOUT_FUZZ_DEADLINE_MS", "0")) or None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(st.lists(message_bodies(BASES, buckets=BUCKETS, keys=KEYS), min_size=1, max_size=5))
    def test_a_batch_of_arbitrary_bodies(self, bodies):
        configure_logging("DEBUG")
        seen: list[Envelope] = []
        sqs = FakeSqs()
        runtime = a_runtime(seen, sqs)
        event = a_batch(bodies)
        records = event["Records"]

        # Strict UTF-8, as Lambda's stdout: a line that cannot be encoded raises here.
        out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="strict", write_through=True)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            response = runtime.process(event)

        retried = [f["itemIdentifier"] for f in response["batchItemFailures"]]
        letters = {
            request["MessageAttributes"]["fanout-origin"]["StringValue"]: request
            for request in sqs.sent
        }
        lettered = {json.loads(origin)["messageId"]: request for origin, request in letters.items()}
        by_id = {record["messageId"]: record for record in records}
        # Each message once: processed, retried or dead-lettered, never two of them.
        assert not set(retried) & set(lettered)
        assert len(seen) == len(records) - len(retried) - len(lettered)
        for message_id in retried:
            assert FLAKY_KEY in by_id[message_id]["body"], "retried without a passing fault"
        for message_id, request in lettered.items():
            assert request["MessageBody"] == by_id[message_id]["body"]
            assert request["MessageAttributes"]["fanout-error-type"]["StringValue"]
            assert request["MessageAttributes"]["fanout-error"]["StringValue"]
        for envelope in seen:
            assert envelope.dataref is None
            assert envelope.data is not None
        assert canaries_in(out.buffer.getvalue().decode()) == []  # type: ignore[attr-defined]


MOTO_EXAMPLES = max(1, EXAMPLES // 4)
IDEMPOTENCY_TABLE = "fuzz-idempotency"
MOTO_DLQ = "fuzz-consumer-dlq"


def _moto_world() -> tuple[Any, str]:
    """The consumer's resources in a fresh moto account: payload objects, table, DLQ."""
    s3, sqs, dynamodb = boto3.client("s3"), boto3.client("sqs"), boto3.client("dynamodb")
    for bucket in (HUB_BUCKET, TRUSTED_BUCKET, OTHER_BUCKET):
        s3.create_bucket(Bucket=bucket)
        for key, data in OBJECTS.items():
            s3.put_object(Bucket=bucket, Key=key, Body=data)
    create_pk_table(dynamodb, IDEMPOTENCY_TABLE)
    return sqs, sqs.create_queue(QueueName=MOTO_DLQ)["QueueUrl"]


class TestTheDeployedWiringOverMoto:
    """The same bodies through the Lambda handler with idempotency and the stale guard on."""

    @settings(
        max_examples=MOTO_EXAMPLES,
        deadline=None,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.function_scoped_fixture,
        ],
    )
    @given(
        st.lists(
            message_bodies(
                BASES, buckets=[HUB_BUCKET, TRUSTED_BUCKET, OTHER_BUCKET], keys=list(OBJECTS)
            ),
            min_size=1,
            max_size=4,
        )
    )
    def test_every_body_is_processed_or_dead_lettered(self, monkeypatch, bodies):
        seen: list[Envelope] = []
        handler = consumer(mode=Mode.SIDE_EFFECT)(seen.append)
        with mock_aws():
            sqs, dlq_url = _moto_world()
            for name, value in {
                "CONSUMER_NAME": "fuzz-consumer",
                "DLQ_URL": dlq_url,
                "PAYLOAD_BUCKET": HUB_BUCKET,
                "TRUSTED_PAYLOAD_BUCKETS": TRUSTED_BUCKET,
                "IDEMPOTENCY_TABLE": IDEMPOTENCY_TABLE,
                "LOG_LEVEL": "DEBUG",
            }.items():
                monkeypatch.setenv(name, value)
            aws_clients.cache_clear()
            event = a_batch(bodies)

            response = handler(event, FakeContext())

            letters = peek(sqs, dlq_url)
        aws_clients.cache_clear()

        # No fault is injected here: nothing may be returned to the queue.
        assert response == {"batchItemFailures": []}
        # Duplicates of one envelope in a batch run once; stale ones are skipped.
        assert len(seen) + len(letters) <= len(event["Records"])
        bodies_by_id = {r["messageId"]: r["body"] for r in event["Records"]}
        for letter in letters:
            origin = json.loads(letter["MessageAttributes"]["fanout-origin"]["StringValue"])
            assert letter["Body"] == bodies_by_id[origin["messageId"]]
            assert letter["MessageAttributes"]["fanout-error"]["StringValue"]
