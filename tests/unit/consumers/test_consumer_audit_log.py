"""The audit log: every event exactly once in S3, partitioned for Athena, numbers exact."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from consumer_builders import an_envelope, an_sqs_event, an_sqs_record, failed_ids
from support.builders import FakeContext

from consumers.audit_log.app import handler
from consumers.audit_log.archive import object_key
from consumers.runtime import ConfigurationError
from schemas import codec, parse_envelope

AUDIT_BUCKET = "fanout-hub-audit"


def objects(consumer_aws) -> dict[str, str]:
    listing = consumer_aws.s3.list_objects_v2(Bucket=AUDIT_BUCKET).get("Contents", [])
    return {
        o["Key"]: consumer_aws.s3.get_object(Bucket=AUDIT_BUCKET, Key=o["Key"])["Body"]
        .read()
        .decode()
        for o in listing
    }


@pytest.fixture
def audit(consumer_env, fresh_handlers):
    return handler


class TestAuditLog:
    """One object per event, keyed by table, day, hour and envelope id."""

    def test_an_event_is_archived_under_its_partitions(self, audit, consumer_aws):
        body = an_envelope(created=1_764_208_800.5)  # 2025-11-27T02:00:00.5Z

        response = audit(an_sqs_event(an_sqs_record(body)), FakeContext())

        assert failed_ids(response) == []
        envelope_id = json.loads(body)["id"]
        [(key, text)] = objects(consumer_aws).items()
        assert key == f"events/table=Orders/dt=2025-11-27/hour=02/{envelope_id}.json"
        assert text.endswith("\n")
        assert text.count("\n") == 1
        assert codec.loads(text) == codec.loads(body)

    def test_a_redelivered_event_is_archived_once(self, audit, consumer_aws):
        body = an_envelope()

        audit(an_sqs_event(an_sqs_record(body)), FakeContext())
        audit(an_sqs_event(an_sqs_record(body, receive_count=2)), FakeContext())

        assert len(objects(consumer_aws)) == 1

    def test_numbers_are_written_with_every_digit(self, audit, consumer_aws):
        exact = {
            "pk": "ORDER#3",
            "sk": "META",
            "total": Decimal("12345678901234567890.123456789012345678"),
            "n": 10**37,
        }
        body = an_envelope(new=exact)

        audit(an_sqs_event(an_sqs_record(body)), FakeContext())

        [text] = objects(consumer_aws).values()
        assert '"total":12345678901234567890.123456789012345678' in text
        assert f'"n":{10**37}' in text

    def test_the_key_uses_the_change_time_in_utc(self):
        envelope = parse_envelope(an_envelope(created=1_764_201_599))  # 2025-11-26T23:59:59Z

        assert "/dt=2025-11-26/hour=23/" in object_key(envelope)

    def test_a_missing_bucket_setting_fails_the_cold_start_naming_it(self, audit, monkeypatch):
        monkeypatch.delenv("AUDIT_BUCKET")

        with pytest.raises(ConfigurationError, match="AUDIT_BUCKET"):
            audit(an_sqs_event(an_sqs_record(an_envelope())), FakeContext())
