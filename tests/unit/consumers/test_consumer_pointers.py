"""Reading every delivery shape: SNS-wrapped, claim checks, extended-client pointers, versions."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from consumer_builders import (
    an_envelope,
    an_envelope_with_attributes,
    an_sqs_record,
    failed_ids,
    run_consumer,
)
from support.hostile import sns_notification

from router.normalise import pointer_body
from schemas import Upcasters

PAYLOAD_BUCKET = "fanout-hub-payloads"
OTHER_BUCKET = "someone-elses-bucket"
EXTENDED_POINTER = "software.amazon.payloadoffloading.PayloadS3Pointer"


def error_of(consumer_aws: Any) -> str:
    [letter] = consumer_aws.dead_letters()
    attributes = letter["MessageAttributes"]
    return f"{attributes['fanout-error-type']['StringValue']}: {attributes['fanout-error']['StringValue']}"


class TestSnsWrapping:
    """Raw and SNS-wrapped deliveries read the same."""

    def test_an_sns_notification_is_unwrapped(self, seen):
        body, attributes = an_envelope_with_attributes(
            new={"pk": "ORDER#42", "sk": "META", "total": Decimal("10.25")}
        )

        response = run_consumer(seen, an_sqs_record(sns_notification(body, attributes)))

        assert failed_ids(response) == []
        [envelope] = seen
        assert envelope.id == json.loads(body)["id"]
        assert envelope.data is not None
        assert envelope.data.new is not None
        assert envelope.data.new["total"] == Decimal("10.25")

    def test_a_raw_delivery_is_read_as_it_is(self, seen):
        body = an_envelope()

        run_consumer(seen, an_sqs_record(body))

        assert [e.id for e in seen] == [json.loads(body)["id"]]


class TestClaimCheck:
    """An oversize event is fetched from the hub's bucket, and only from there."""

    def store(self, consumer_aws: Any, bucket: str, key: str, body: str) -> str:
        consumer_aws.s3.put_object(Bucket=bucket, Key=key, Body=body.encode())
        return pointer_body(body, f"s3://{bucket}/{key}")

    def test_a_pointer_into_the_payload_bucket_is_resolved(self, seen, consumer_aws):
        big = {"pk": "ORDER#1", "sk": "META", "notes": "x" * 300_000}
        body = an_envelope(new=big)
        pointer = self.store(consumer_aws, PAYLOAD_BUCKET, "payloads/a.json", body)

        response = run_consumer(seen, an_sqs_record(pointer))

        assert failed_ids(response) == []
        [envelope] = seen
        assert envelope.dataref is None
        assert envelope.data is not None
        assert envelope.data.new == big

    def test_a_pointer_to_another_bucket_is_refused_and_dead_lettered(self, seen, consumer_aws):
        pointer = self.store(consumer_aws, OTHER_BUCKET, "evil.json", an_envelope())

        response = run_consumer(seen, an_sqs_record(pointer))

        assert failed_ids(response) == []
        assert seen == []
        assert error_of(consumer_aws).startswith(
            "RefusedPointerError: hub dataref to bucket 'someone-elses-bucket'"
        )

    def test_a_pointer_to_a_missing_object_is_dead_lettered(self, seen, consumer_aws):
        pointer = pointer_body(an_envelope(), f"s3://{PAYLOAD_BUCKET}/gone.json")

        run_consumer(seen, an_sqs_record(pointer))

        assert "NoSuchKey" in error_of(consumer_aws)

    def test_a_pointer_to_a_different_event_is_refused(self, seen, consumer_aws):
        consumer_aws.s3.put_object(
            Bucket=PAYLOAD_BUCKET, Key="other.json", Body=an_envelope().encode()
        )
        pointer = pointer_body(an_envelope(), f"s3://{PAYLOAD_BUCKET}/other.json")

        run_consumer(seen, an_sqs_record(pointer))

        assert seen == []
        assert "does not hold envelope" in error_of(consumer_aws)


class TestExtendedClientPointer:
    """Pointers written by the AWS SNS/SQS Extended Client Libraries are resolved too."""

    def pointer(self, bucket: str, key: str) -> str:
        return json.dumps([EXTENDED_POINTER, {"s3BucketName": bucket, "s3Key": key}])

    def test_a_raw_delivery_with_the_reserved_attribute_is_resolved(self, seen, consumer_aws):
        body = an_envelope()
        consumer_aws.s3.put_object(Bucket=PAYLOAD_BUCKET, Key="5f1d.json", Body=body.encode())
        size = {"ExtendedPayloadSize": {"DataType": "Number", "StringValue": str(len(body))}}

        response = run_consumer(
            seen, an_sqs_record(self.pointer(PAYLOAD_BUCKET, "5f1d.json"), attributes=size)
        )

        assert failed_ids(response) == []
        assert [e.id for e in seen] == [json.loads(body)["id"]]

    def test_an_sns_wrapped_pointer_with_the_legacy_attribute_is_resolved(self, seen, consumer_aws):
        body = an_envelope()
        consumer_aws.s3.put_object(Bucket=PAYLOAD_BUCKET, Key="legacy", Body=body.encode())
        size = {"SQSLargePayloadSize": {"DataType": "Number", "StringValue": str(len(body))}}
        wrapped = sns_notification(self.pointer(PAYLOAD_BUCKET, "legacy"), size)

        run_consumer(seen, an_sqs_record(wrapped))

        assert [e.id for e in seen] == [json.loads(body)["id"]]

    def test_another_producers_bucket_is_refused_unless_trusted(
        self, seen, consumer_aws, monkeypatch
    ):
        body = an_envelope()
        consumer_aws.s3.put_object(Bucket=OTHER_BUCKET, Key="p", Body=body.encode())
        record = an_sqs_record(self.pointer(OTHER_BUCKET, "p"))

        run_consumer(seen, record)
        assert seen == []
        assert error_of(consumer_aws).startswith("RefusedPointerError")

        monkeypatch.setenv("TRUSTED_PAYLOAD_BUCKETS", f"{OTHER_BUCKET}, yet-another-bucket")
        run_consumer(seen, record)
        assert [e.id for e in seen] == [json.loads(body)["id"]]

    def test_the_reserved_attribute_without_a_pointer_body_is_dead_lettered(
        self, seen, consumer_aws
    ):
        size = {"ExtendedPayloadSize": {"DataType": "Number", "StringValue": "10"}}

        run_consumer(seen, an_sqs_record(an_envelope(), attributes=size))

        assert "not a pointer" in error_of(consumer_aws)


class TestVersions:
    """Every supported version is read and upcast; an unknown one is refused at once."""

    def test_an_unknown_version_goes_straight_to_the_dlq(self, seen, consumer_aws):
        envelope = json.loads(an_envelope())
        envelope["schemaversion"] = "99"

        response = run_consumer(seen, an_sqs_record(json.dumps(envelope)))

        assert failed_ids(response) == []
        assert seen == []
        assert "schemaversion: version '99' is not supported" in error_of(consumer_aws)

    def test_an_older_version_is_upcast_before_the_consumer_sees_it(self, seen):
        upcasters = Upcasters()

        @upcasters.register("0", "1")
        def v0_to_v1(raw: dict[str, Any]) -> dict[str, Any]:
            # A pre-release shape: "seq" instead of "sequence", no dataschema.
            raw = {**raw, "schemaversion": "1", "sequence": raw.pop("seq")}
            raw["dataschema"] = "urn:fanout-hub:schema:envelope:1"
            return raw

        current = json.loads(an_envelope())
        old = {k: v for k, v in current.items() if k not in ("sequence", "dataschema")}
        old.update(schemaversion="0", seq=current["sequence"])

        response = run_consumer(seen, an_sqs_record(json.dumps(old)), upcasters=upcasters)

        assert failed_ids(response) == []
        [envelope] = seen
        assert envelope.schemaversion == "1"
        assert envelope.sequence == current["sequence"]

    def test_an_upcaster_that_yields_the_wrong_version_sends_the_message_to_the_dlq(
        self, seen, consumer_aws
    ):
        upcasters = Upcasters()

        @upcasters.register("0", "1")
        def broken(raw: dict[str, Any]) -> dict[str, Any]:
            return {**raw, "schemaversion": "7"}

        old = {**json.loads(an_envelope()), "schemaversion": "0"}

        response = run_consumer(seen, an_sqs_record(json.dumps(old)), upcasters=upcasters)

        assert failed_ids(response) == []
        assert seen == []
        assert "upcaster 0->1 produced version '7'" in error_of(consumer_aws)
