"""Log scan: bad input seeded with secret-looking values, and no log line holds one.

A consumer's log group is not encrypted with a customer key because no line holds
an item value (template.yaml). Every case here puts canary values
(``support.hostile.canary``) where an item's values stand, runs the real handler
with the real log configuration at DEBUG, and scans everything written to stdout,
stderr and the ``logging`` module. Where the text of an error must survive (the
consumer's own ``PermanentError``), it goes to the DLQ, which is not a log.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from consumer_builders import (
    an_envelope,
    an_sqs_event,
    an_sqs_record,
    failed_ids,
)
from support.builders import FakeContext
from support.hostile import CANARY_MARK, SECRET_LOOKING, canaries_in, canary, sns_notification

from consumers.runtime import Envelope, PermanentError, consumer
from router.normalise import pointer_body

PAYLOAD_BUCKET = "fanout-hub-payloads"
EXTENDED_POINTER = "software.amazon.payloadoffloading.PayloadS3Pointer"
SIZE = {"ExtendedPayloadSize": {"DataType": "Number", "StringValue": "300000"}}


def secret_item(first: int) -> dict[str, Any]:
    """An order whose every value looks like a secret."""
    return {
        "pk": canary(first, SECRET_LOOKING[3]),
        "sk": "META",
        "card": canary(first + 1, SECRET_LOOKING[0]),
        "key": canary(first + 2, SECRET_LOOKING[1]),
        "login": {"password": canary(first + 3, SECRET_LOOKING[2])},
        "pem": [canary(first + 4, SECRET_LOOKING[4])],
    }


def secret_envelope(**changes: Any) -> dict[str, Any]:
    document = json.loads(an_envelope("INSERT", new=secret_item(10)))
    document.update(changes)
    return {k: v for k, v in document.items() if v is not None}


def bad_bodies() -> dict[str, tuple[str, dict[str, Any] | None]]:
    """Each class of unreadable message, holding canaries where item values go."""
    item = json.dumps(secret_item(20))
    return {
        "not JSON": (f"<order>{item}</order>", None),
        "not JSON inside SNS": (sns_notification(f"{{{item}"), None),
        "a number beyond Decimal": (
            json.dumps(secret_envelope()).replace('"sk": "META"', '"sk": 1e99999999999999999999'),
            None,
        ),
        "a 5000-digit integer": (item.replace('"META"', "9" * 5000), None),
        "schemaversion a list": (json.dumps(secret_envelope(schemaversion=["1"])), None),
        "unknown schemaversion": (
            json.dumps(secret_envelope(schemaversion=canary(30, SECRET_LOOKING[1]))),
            None,
        ),
        "subject not a string": (json.dumps(secret_envelope(subject=[secret_item(40)])), None),
        "time not a time": (json.dumps(secret_envelope(time=canary(50))), None),
        "data not an object": (json.dumps(secret_envelope(data=canary(51))), None),
        "data.new not an object": (
            json.dumps(secret_envelope(data={"keys": {}, "new": [canary(52)], "old": None})),
            None,
        ),
        "a pointer-shaped array": (json.dumps([[canary(60)], secret_item(61)]), SIZE),
        "a pointer without a key": (
            json.dumps([EXTENDED_POINTER, {"s3BucketName": PAYLOAD_BUCKET, "x": canary(70)}]),
            SIZE,
        ),
        "an array body": (json.dumps([secret_item(80)]), None),
        "a string body": (json.dumps(canary(90)), None),
    }


@pytest.fixture
def scanned(consumer_env: dict[str, str], capsys: pytest.CaptureFixture[str], caplog: Any) -> Any:
    """Everything logged during the test, read after it ran."""
    # The root logger at DEBUG, as Lambda's JSON format with LOG_LEVEL=DEBUG has it.
    caplog.set_level(logging.DEBUG)

    def read() -> str:
        out, err = capsys.readouterr()
        return "\n".join([out, err, *(r.getMessage() for r in caplog.records)])

    return read


def run(handle: Any, *records: Any) -> Any:
    handler = consumer()(handle)
    return handler(an_sqs_event(*records), FakeContext())


class TestUnreadableMessages:
    """Every class of bad input is dead-lettered, and no value of it is logged."""

    def test_no_canary_reaches_a_log_line(self, scanned, consumer_aws):
        bodies = bad_bodies()
        seen: list[Envelope] = []

        response = run(
            seen.append, *(an_sqs_record(body, attributes=attrs) for body, attrs in bodies.values())
        )

        logged = scanned()
        assert failed_ids(response) == []
        assert seen == []
        assert len(consumer_aws.dead_letters()) == len(bodies)
        assert logged.count("event_dead_lettered") == len(bodies)  # the scan read the real lines
        assert canaries_in(logged) == []

    def test_a_claim_check_payload_that_is_not_json_logs_no_value(self, scanned, consumer_aws):
        key = "envelopes/orders/bad.json"
        payload = b"\xff" + json.dumps(secret_item(100)).encode()
        consumer_aws.s3.put_object(Bucket=PAYLOAD_BUCKET, Key=key, Body=payload)
        body = pointer_body(an_envelope(), f"s3://{PAYLOAD_BUCKET}/{key}")

        run(lambda event: None, an_sqs_record(body))

        logged = scanned()
        assert len(consumer_aws.dead_letters()) == 1
        assert canaries_in(logged) == []


class TestGoodMessages:
    """A processed event is logged by its id, type and sequence, never its data."""

    def test_processing_at_debug_logs_no_value(self, scanned):
        seen: list[Envelope] = []

        run(seen.append, an_sqs_record(json.dumps(secret_envelope())))

        assert len(seen) == 1
        logged = scanned()
        assert "batch_consumed" in logged
        assert canaries_in(logged) == []


class TestErrorsFromTheConsumersCode:
    """The consumer's own exception text may hold values: logs give its type and place only."""

    @pytest.mark.parametrize(
        "error",
        [
            ValueError(f"card {canary(200)} declined"),
            KeyError(canary(201)),
            RuntimeError(canary(202)),
        ],
        ids=lambda e: type(e).__name__,
    )
    def test_a_retried_error_is_logged_without_its_text(self, scanned, error):
        def handle(event: Envelope) -> None:
            raise error

        record = an_sqs_record(json.dumps(secret_envelope()))
        response = run(handle, record)

        assert failed_ids(response) == [record["messageId"]]
        logged = scanned()
        assert f"{type(error).__name__} raised at" in logged
        assert "test_consumer_log_scan.py" in logged
        assert canaries_in(logged) == []

    def test_a_chained_error_is_logged_without_either_text(self, scanned):
        def look_up(event: Envelope) -> None:
            raise LookupError(canary(210))

        def handle(event: Envelope) -> None:
            try:
                look_up(event)
            except LookupError as cause:
                raise RuntimeError(canary(211)) from cause

        run(handle, an_sqs_record(json.dumps(secret_envelope())))

        assert canaries_in(scanned()) == []

    def test_a_permanent_error_keeps_its_text_in_the_dlq_only(self, scanned, consumer_aws):
        def handle(event: Envelope) -> None:
            raise PermanentError(f"customer {canary(220)} unknown")

        run(handle, an_sqs_record(json.dumps(secret_envelope())))

        logged = scanned()
        [letter] = consumer_aws.dead_letters()
        assert canary(220) in letter["MessageAttributes"]["fanout-error"]["StringValue"]
        assert "PermanentError raised at" in logged
        assert canaries_in(logged) == []

    def test_a_failed_dead_letter_send_logs_no_value(self, scanned, monkeypatch):
        monkeypatch.setenv(
            "DLQ_URL", "https://sqs.us-east-1.amazonaws.com/123456789012/no-such-queue"
        )

        def handle(event: Envelope) -> None:
            raise PermanentError(canary(230))

        record = an_sqs_record(json.dumps(secret_envelope()))
        response = run(handle, record)

        assert failed_ids(response) == [record["messageId"]]
        logged = scanned()
        assert "dead_letter_failed" in logged
        assert canaries_in(logged) == []


def test_the_canary_mark_is_found_when_a_value_is_logged():
    """The scan would see a leak: a line holding only a value's tail still carries the mark."""
    value = canary(1)
    assert canaries_in(f'{{"event": "x", "error": "{value[-12:]}"}}')
    assert CANARY_MARK in value[:10]
