"""Hostile message bodies: each class that can never be read goes to the DLQ at once, with its reason.

"At once" means on the first delivery: the message is not listed in
``batchItemFailures``, so SQS does not redeliver it up to ``maxReceiveCount``.
https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-errorhandling.html
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from consumer_builders import an_envelope, an_sqs_record, failed_ids, run_consumer
from support.builders import FakeContext, a_batch, a_stream_record
from support.hostile import SQS_REFUSED, sns_notification

from consumers.runtime import BatchResponse, Mode, consumer
from router.normalise import pointer_body
from schemas import Upcasters

PAYLOAD_BUCKET = "fanout-hub-payloads"
OTHER_BUCKET = "someone-elses-bucket"
EXTENDED_POINTER = "software.amazon.payloadoffloading.PayloadS3Pointer"
SIZE = {"ExtendedPayloadSize": {"DataType": "Number", "StringValue": "300000"}}
# An exponent beyond Decimal's (MAX_EMAX is 999999999999999999 on 64-bit builds).
BEYOND_DECIMAL = "1.5e99999999999999999999"


def dead_lettered_at_once(consumer_aws: Any, response: BatchResponse, body: str) -> str:
    """The one dead letter's error, after checking nothing returns to the queue."""
    assert failed_ids(response) == []
    [letter] = consumer_aws.dead_letters()
    assert letter["Body"] == body
    attributes = letter["MessageAttributes"]
    return f"{attributes['fanout-error-type']['StringValue']}: {attributes['fanout-error']['StringValue']}"


class TestSchemaVersionThatIsNotAString:
    """A ``schemaversion`` of any JSON type but string is refused, not retried."""

    @pytest.mark.parametrize(
        ("version", "kind"),
        [([1], "list"), ({"v": 1}, "dict"), (1, "int"), (True, "bool"), ("1.0e5", None)],
    )
    def test_it_goes_to_the_dlq_naming_the_type(self, seen, consumer_aws, version, kind):
        envelope = {**json.loads(an_envelope()), "schemaversion": version}
        body = json.dumps(envelope)

        error = dead_lettered_at_once(consumer_aws, run_consumer(seen, an_sqs_record(body)), body)

        assert seen == []
        assert error.startswith("InvalidMessageError: schemaversion:")
        if kind is not None:
            assert f"must be a string, got {kind}" in error

    def test_an_unhashable_version_reaches_no_upcaster(self, seen, consumer_aws):
        upcasters = Upcasters()

        @upcasters.register("0", "1")
        def never(raw: dict[str, Any]) -> dict[str, Any]:  # pragma: no cover - must not run
            raise AssertionError("upcaster ran")

        body = json.dumps({**json.loads(an_envelope()), "schemaversion": ["0"]})

        error = dead_lettered_at_once(
            consumer_aws, run_consumer(seen, an_sqs_record(body), upcasters=upcasters), body
        )

        assert "must be a string, got list" in error


class TestPointerShapedArray:
    """A two-member array that looks like an extended-client pointer but is not one."""

    @pytest.mark.parametrize(
        "document",
        [
            [["not", "a", "class"], {"s3BucketName": PAYLOAD_BUCKET, "s3Key": "k"}],
            [{"class": EXTENDED_POINTER}, {"s3BucketName": PAYLOAD_BUCKET, "s3Key": "k"}],
            [7, {}],
            [EXTENDED_POINTER, "s3://bucket/key"],
            [EXTENDED_POINTER, {"s3BucketName": 5, "s3Key": ["k"]}],
            [EXTENDED_POINTER, {"s3BucketName": PAYLOAD_BUCKET}],
        ],
    )
    @pytest.mark.parametrize("marked", [False, True], ids=["unmarked", "with-size-attribute"])
    def test_it_goes_to_the_dlq(self, seen, consumer_aws, document, marked):
        body = json.dumps(document)

        response = run_consumer(seen, an_sqs_record(body, attributes=SIZE if marked else None))

        error = dead_lettered_at_once(consumer_aws, response, body)
        assert error.startswith("InvalidMessageError")
        assert seen == []


class TestNumberBeyondDecimal:
    """A number no ``Decimal`` holds is refused wherever it sits."""

    def test_in_an_item_image(self, seen, consumer_aws):
        body = an_envelope().replace('"new":{', f'"new":{{"huge":{BEYOND_DECIMAL},', 1)

        error = dead_lettered_at_once(consumer_aws, run_consumer(seen, an_sqs_record(body)), body)

        assert "beyond Decimal's range" in error

    def test_inside_an_sns_notification(self, seen, consumer_aws):
        message = an_envelope().replace('"new":{', f'"new":{{"huge":-{BEYOND_DECIMAL},', 1)
        body = sns_notification(message)

        error = dead_lettered_at_once(consumer_aws, run_consumer(seen, an_sqs_record(body)), body)

        assert "SNS notification Message holds a number beyond Decimal's range" in error

    def test_in_a_claim_checked_payload(self, seen, consumer_aws):
        full = an_envelope().replace('"new":{', f'"new":{{"huge":{BEYOND_DECIMAL},', 1)
        key = "envelopes/orders/huge.json"
        consumer_aws.s3.put_object(Bucket=PAYLOAD_BUCKET, Key=key, Body=full.encode())
        body = pointer_body(an_envelope(), f"s3://{PAYLOAD_BUCKET}/{key}")

        error = dead_lettered_at_once(consumer_aws, run_consumer(seen, an_sqs_record(body)), body)

        assert "beyond Decimal's range" in error

    def test_an_integer_longer_than_python_parses(self, seen, consumer_aws):
        body = an_envelope().replace('"new":{', '"new":{"long":' + "9" * 5000 + ",", 1)

        error = dead_lettered_at_once(consumer_aws, run_consumer(seen, an_sqs_record(body)), body)

        assert error.startswith("InvalidMessageError: message body is not JSON")


class TestHubDatarefStaysInTheHubBucket:
    """``TRUSTED_PAYLOAD_BUCKETS`` is for extended-client pointers; a ``dataref`` never goes there."""

    def test_a_dataref_into_a_trusted_extended_bucket_is_refused(
        self, seen, consumer_aws, monkeypatch
    ):
        monkeypatch.setenv("TRUSTED_PAYLOAD_BUCKETS", OTHER_BUCKET)
        full = an_envelope()
        consumer_aws.s3.put_object(Bucket=OTHER_BUCKET, Key="e.json", Body=full.encode())
        body = pointer_body(full, f"s3://{OTHER_BUCKET}/e.json")

        error = dead_lettered_at_once(consumer_aws, run_consumer(seen, an_sqs_record(body)), body)

        assert seen == []
        assert error.startswith(f"RefusedPointerError: hub dataref to bucket '{OTHER_BUCKET}'")

    def test_an_extended_pointer_into_that_bucket_is_still_followed(
        self, seen, consumer_aws, monkeypatch
    ):
        monkeypatch.setenv("TRUSTED_PAYLOAD_BUCKETS", OTHER_BUCKET)
        full = an_envelope()
        consumer_aws.s3.put_object(Bucket=OTHER_BUCKET, Key="p.json", Body=full.encode())
        body = json.dumps([EXTENDED_POINTER, {"s3BucketName": OTHER_BUCKET, "s3Key": "p.json"}])

        response = run_consumer(seen, an_sqs_record(body, attributes=SIZE))

        assert failed_ids(response) == []
        assert [e.id for e in seen] == [json.loads(full)["id"]]

    def test_a_dataref_reached_through_a_trusted_pointer_is_held_to_the_hub_bucket(
        self, seen, consumer_aws, monkeypatch
    ):
        monkeypatch.setenv("TRUSTED_PAYLOAD_BUCKETS", OTHER_BUCKET)
        full = an_envelope()
        consumer_aws.s3.put_object(Bucket=OTHER_BUCKET, Key="e.json", Body=full.encode())
        hop = pointer_body(full, f"s3://{OTHER_BUCKET}/e.json")
        consumer_aws.s3.put_object(Bucket=OTHER_BUCKET, Key="hop.json", Body=hop.encode())
        body = json.dumps([EXTENDED_POINTER, {"s3BucketName": OTHER_BUCKET, "s3Key": "hop.json"}])

        error = dead_lettered_at_once(
            consumer_aws, run_consumer(seen, an_sqs_record(body, attributes=SIZE)), body
        )

        assert seen == []
        assert "hub dataref" in error

    def test_without_a_payload_bucket_every_dataref_is_refused(
        self, seen, consumer_aws, monkeypatch
    ):
        monkeypatch.delenv("PAYLOAD_BUCKET")
        monkeypatch.setenv("TRUSTED_PAYLOAD_BUCKETS", PAYLOAD_BUCKET)
        full = an_envelope()
        consumer_aws.s3.put_object(Bucket=PAYLOAD_BUCKET, Key="e.json", Body=full.encode())
        body = pointer_body(full, f"s3://{PAYLOAD_BUCKET}/e.json")

        error = dead_lettered_at_once(consumer_aws, run_consumer(seen, an_sqs_record(body)), body)

        assert "none is configured" in error


class TestUpcasterFailure:
    """An upcaster raising on a document raises on every delivery of it: no retries."""

    def test_an_upcaster_that_raises_sends_the_message_to_the_dlq(self, seen, consumer_aws):
        upcasters = Upcasters()

        @upcasters.register("0", "1")
        def strict(raw: dict[str, Any]) -> dict[str, Any]:
            return {**raw, "schemaversion": "1", "sequence": raw["seq"]}

        body = json.dumps({**json.loads(an_envelope()), "schemaversion": "0"})

        error = dead_lettered_at_once(
            consumer_aws, run_consumer(seen, an_sqs_record(body), upcasters=upcasters), body
        )

        assert error == "InvalidMessageError: envelope could not be read: KeyError while upcasting"


class TestLoneSurrogates:
    """An escape of a lone UTF-16 surrogate: no DynamoDB string holds one, no consumer can write it."""

    @pytest.mark.parametrize(
        ("old", "new"),
        [
            ('"new":{', '"new":{"note":"a\\ud800b",'),
            ('"new":{', '"new":{"\\udc00":1,'),
            ('"type":"', '"type":"\\udbff'),
        ],
        ids=["in-a-value", "in-a-name", "in-the-type"],
    )
    def test_it_goes_to_the_dlq_at_once(self, seen, consumer_aws, old, new):
        original = an_envelope()
        body = original.replace(old, new, 1)
        assert body != original

        error = dead_lettered_at_once(consumer_aws, run_consumer(seen, an_sqs_record(body)), body)

        assert seen == []
        assert error.startswith("InvalidMessageError")

    def test_an_escaped_pair_is_one_character_and_is_read(self, seen):
        body = an_envelope().replace('"new":{', '"new":{"emoji":"\\ud83d\\ude00",', 1)

        response = run_consumer(seen, an_sqs_record(body))

        assert failed_ids(response) == []
        [envelope] = seen
        assert envelope.data is not None
        assert envelope.data.new is not None
        assert envelope.data.new["emoji"] == "\N{GRINNING FACE}"


class TestTimesOutOfRange:
    """A time whose offset takes it past year 1 or 9999 in UTC is refused before the function runs."""

    @pytest.mark.parametrize("time", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
    def test_it_goes_to_the_dlq_and_the_batch_goes_on(self, seen, consumer_aws, time):
        bad = json.dumps({**json.loads(an_envelope()), "time": time})
        good = an_envelope()

        response = run_consumer(seen, an_sqs_record(bad), an_sqs_record(good))

        error = dead_lettered_at_once(consumer_aws, response, bad)
        assert error == "InvalidMessageError: time: out of range once converted to UTC"
        assert [e.id for e in seen] == [json.loads(good)["id"]]


class TestErrorTextsSqsRefuses:
    """An error quoting a character SQS refuses still reaches the DLQ, with U+FFFD in its place.

    SQS refuses characters outside #x9 | #xA | #xD | #x20-#xD7FF | #xE000-#xFFFD |
    #x10000-#x10FFFF in a String attribute value (moto accepts them), so the dead
    letter's error text is cleaned before the send.
    https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_MessageAttributeValue.html
    """

    @pytest.mark.parametrize("key", ["nul\x00.json", "\ufffe.json"], ids=["nul", "noncharacter"])
    def test_a_pointer_to_a_missing_key_is_dead_lettered_with_a_clean_error(
        self, seen, consumer_aws, key
    ):
        body = pointer_body(an_envelope(), f"s3://{PAYLOAD_BUCKET}/{key}")

        error = dead_lettered_at_once(consumer_aws, run_consumer(seen, an_sqs_record(body)), body)

        assert "cannot be read" in error
        assert "\ufffd" in error
        assert not SQS_REFUSED.search(error)


class TestAnEventThatIsNotFromSqs:
    """A stream event given to a consumer (a mistaken test event) is refused by name."""

    def test_it_is_a_type_error_naming_the_source(self, seen, consumer_aws):
        handler = consumer(mode=Mode.NATURALLY_IDEMPOTENT)(seen.append)
        with pytest.raises(TypeError, match=r"not an SQS event: .*\['aws:dynamodb'\]"):
            handler(a_batch(a_stream_record()), FakeContext())
        assert seen == []
