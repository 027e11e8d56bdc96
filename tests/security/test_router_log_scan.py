"""Log scan of the router: bad records seeded with secret-looking values, through ``router.app.handler``.

Each record carries canary values (``support.hostile.canary``) in its item
attributes; the router runs at DEBUG with the real log configuration and every
line it writes (stdout, stderr, the ``logging`` module) is scanned. Poison errors
must name the attribute, its type and what is wrong, never the value.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from support.builders import FakeContext, a_stream_record
from support.hostile import canaries_in, canary

PAYLOAD_BUCKET = "fanout-hub-payloads"


def with_image(new_image: dict[str, Any]) -> dict[str, Any]:
    """A stream record whose NewImage is exactly ``new_image`` (Lambda's DynamoDB JSON)."""
    record = a_stream_record(new={"pk": "ORDER#1", "sk": "META"})
    record["dynamodb"]["NewImage"] = {
        "pk": {"S": "ORDER#1"},
        "sk": {"S": "META"},
        "card": {"S": canary(1)},
        **new_image,
    }
    return record


# One bad attribute value per class; the value itself holds the canary where it can.
POISON: dict[str, dict[str, Any]] = {
    "number that is not a number": with_image({"total": {"N": canary(10)}}),
    "number beyond Decimal": with_image({"total": {"N": f"1e99999999999999999999{canary(11)}"}}),
    "unknown attribute type": with_image({"total": {canary(12): "1"}}),
    "a value of two types": with_image({"total": {"S": canary(13), "N": "1"}}),
    "binary not base64": with_image({"blob": {"B": canary(14)}}),
    "a string set holding a number": with_image({"tags": {"SS": [canary(15), 7]}}),
    "a string that is a list": with_image({"name": {"S": [canary(16)]}}),
    "eventName unknown": {**with_image({}), "eventName": canary(17)},
}


# What the router does with these today (found by this scan; the router is fixed elsewhere).
@pytest.fixture
def router(aws: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    sns, sqs, s3 = boto3.client("sns"), boto3.client("sqs"), boto3.client("s3")
    s3.create_bucket(Bucket=PAYLOAD_BUCKET)
    for name, value in {
        "TOPIC_ARN": sns.create_topic(Name="fanout-hub-events")["TopicArn"],
        "ROUTER_DLQ_URL": sqs.create_queue(QueueName="router-dlq")["QueueUrl"],
        "PAYLOAD_BUCKET": PAYLOAD_BUCKET,
        "LOG_LEVEL": "DEBUG",
    }.items():
        monkeypatch.setenv(name, value)
    from router import app

    app.build_router.cache_clear()
    yield app
    app.build_router.cache_clear()


@pytest.mark.parametrize("case", list(POISON))
def test_a_poison_record_writes_no_value_in_the_routers_lines(router, capsys, case):
    response = router.handler({"Records": [POISON[case]]}, FakeContext())

    out, err = capsys.readouterr()
    assert response == {"batchItemFailures": []}
    assert "record_dead_lettered" in out
    assert canaries_in(out + err) == []


def test_a_published_record_writes_no_value_in_the_routers_lines(router, capsys):
    record = with_image({"email": {"S": canary(30)}, "total": {"N": "12.5"}})

    assert router.handler({"Records": [record]}, FakeContext()) == {"batchItemFailures": []}

    out, err = capsys.readouterr()
    assert "batch_routed" in out
    assert canaries_in(out + err) == []


@pytest.mark.parametrize("mode", ["observe", "enforce"])
def test_an_item_breaking_its_contract_writes_no_value_in_the_routers_lines(
    router, capsys, monkeypatch, mode
):
    """The order contract (schemas/entities/order.py) refuses each of these values; the
    lines say which field and which rule, and the metric which entity, never the value."""
    monkeypatch.setenv("CONTRACT_MODE", mode)
    router.build_router.cache_clear()
    record = with_image(
        {
            "status": {"S": canary(50)},
            "total": {"S": canary(51)},
            "lines": {"L": [{"M": {"sku": {"N": "7"}, "qty": {"S": canary(52)}}}]},
            "carrier": {"M": {"name": {"S": canary(53)}}},
        }
    )

    assert router.handler({"Records": [record]}, FakeContext()) == {"batchItemFailures": []}

    out, err = capsys.readouterr()
    assert "contract_violation" in out
    assert '"ContractViolations":1' in out
    assert ("record_dead_lettered" in out) == (mode == "enforce")
    assert canaries_in(out + err) == []


@pytest.fixture
def fresh_sdk_loggers() -> Iterator[None]:
    """The SDK's loggers as a new router process has them (a consumer test may have quieted them)."""
    from hubcommon.logs import SDK_LOGGERS

    levels = {name: logging.getLogger(name).level for name in SDK_LOGGERS}
    for name in SDK_LOGGERS:
        logging.getLogger(name).setLevel(logging.NOTSET)
    yield
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


@pytest.mark.usefixtures("fresh_sdk_loggers")
def test_the_aws_sdk_writes_no_value_at_debug(router, caplog):
    """With LOG_LEVEL=DEBUG Lambda's JSON format passes DEBUG lines of every logger on.

    https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-log-level.html
    """
    caplog.set_level(logging.DEBUG)
    records = [with_image({"email": {"S": canary(40)}}), POISON["binary not base64"]]

    router.handler({"Records": records}, FakeContext())

    assert canaries_in("\n".join(r.getMessage() for r in caplog.records)) == []
