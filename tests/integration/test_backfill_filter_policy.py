"""Backfill sends a consumer exactly the snapshots its SNS subscription would deliver.

For each filter-policy operator the same table is backfilled twice over moto:
once by publishing every snapshot to a topic whose queue subscribes with the
policy (what SNS delivers), once by ``fanout backfill``'s ``Backfill`` straight to
a queue (what backfill sends). Both must be the same envelopes, and the ones the
AWS documentation says match:

- attribute and body scope: https://docs.aws.amazon.com/sns/latest/dg/sns-subscription-filter-policies.html
- exact, prefix and anything-but: https://docs.aws.amazon.com/sns/latest/dg/string-value-matching.html
- numeric (on a body property; the router's attributes are strings, which numeric
  conditions never match): https://docs.aws.amazon.com/sns/latest/dg/numeric-value-matching.html
- exists: https://docs.aws.amazon.com/sns/latest/dg/attribute-key-matching.html
- ``changed``: a snapshot has no ``changed`` attribute (it is not an update), so a policy
  naming a changed field holds every snapshot back and ``exists: false`` lets all through.

This is the reported bug's shape: a consumer filtered to ``type=order.*`` was sent
``customer.snapshot`` envelopes, and dead-lettered them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from support.queues import peek

from fanout.ops.backfill import Backfill, Checkpoint, Target, snapshot_outbound
from fanout.ops.filtering import FilterPolicy
from fanout.ops.resolve import consumer_of
from router.normalise import EntityRules

TABLE = "Orders"
ATTRIBUTES = "MessageAttributes"
BODY = "MessageBody"

ITEMS: dict[str, dict[str, Any]] = {
    "ORDER#1": {"status": {"S": "paid"}, "total": {"N": "150.5"}, "email": {"S": "a@example.com"}},
    "ORDER#2": {"status": {"S": "refunded"}, "total": {"N": "40"}},
    "ORDERLINE#1": {"status": {"S": "paid"}, "total": {"N": "100"}},
    "CUSTOMER#1": {"name": {"S": "Ada"}, "email": {"S": "ada@example.com"}},
}

# name -> (policy, scope, the items SNS delivers by the AWS documentation)
CASES: dict[str, tuple[dict[str, Any], str, set[str]]] = {
    "exact on an attribute": ({"entity": ["customer"]}, ATTRIBUTES, {"CUSTOMER#1"}),
    "prefix on type (order.*)": (
        {"type": [{"prefix": "order."}]},
        ATTRIBUTES,
        {"ORDER#1", "ORDER#2"},
    ),
    "anything-but a value": (
        {"entity": [{"anything-but": ["customer"]}]},
        ATTRIBUTES,
        {"ORDER#1", "ORDER#2", "ORDERLINE#1"},
    ),
    "anything-but deleted (every snapshot)": (
        {"operation": [{"anything-but": ["deleted"]}]},
        ATTRIBUTES,
        set(ITEMS),
    ),
    "anything-but a prefix": (
        {"type": [{"anything-but": {"prefix": "order"}}]},
        ATTRIBUTES,
        {"CUSTOMER#1"},
    ),
    "numeric on a string attribute (never)": (
        {"schemaversion": [{"numeric": ["=", 1]}]},
        ATTRIBUTES,
        set(),
    ),
    "exists on an attribute": ({"entity": [{"exists": True}]}, ATTRIBUTES, set(ITEMS)),
    "changed names a field (never a snapshot)": ({"changed": ["status"]}, ATTRIBUTES, set()),
    "changed does not exist (every snapshot)": (
        {"changed": [{"exists": False}]},
        ATTRIBUTES,
        set(ITEMS),
    ),
    "exact on a body property": (
        {"data": {"new": {"status": ["paid"]}}},
        BODY,
        {"ORDER#1", "ORDERLINE#1"},
    ),
    "numeric range on a body property": (
        {"data": {"new": {"total": [{"numeric": [">", 50, "<=", 150.5]}]}}},
        BODY,
        {"ORDER#1", "ORDERLINE#1"},
    ),
    "exists on a body property": (
        {"data": {"new": {"email": [{"exists": True}]}}},
        BODY,
        {"ORDER#1", "CUSTOMER#1"},
    ),
    "does not exist on a body property": (
        {"data": {"new": {"email": [{"exists": False}]}}},
        BODY,
        {"ORDER#2", "ORDERLINE#1"},
    ),
    "prefix and anything-but in the body": (
        {"type": [{"prefix": "order"}], "data": {"new": {"status": [{"anything-but": ["paid"]}]}}},
        BODY,
        {"ORDER#2"},
    ),
}


class World:
    """A table of ``ITEMS`` and a topic, in moto."""

    def __init__(self) -> None:
        self.dynamodb, self.sqs, self.sns = (
            boto3.client("dynamodb"),
            boto3.client("sqs"),
            boto3.client("sns"),
        )
        self.table_arn = self.dynamodb.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )["TableDescription"]["TableArn"]
        for pk, attributes in ITEMS.items():
            self.dynamodb.put_item(TableName=TABLE, Item={"pk": {"S": pk}, **attributes})
        self.topic_arn = self.sns.create_topic(Name="fanout-hub-events")["TopicArn"]

    def queue(self, name: str) -> tuple[str, str]:
        url = self.sqs.create_queue(QueueName=name)["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        return url, arn["Attributes"]["QueueArn"]

    def subjects(self, queue_url: str) -> set[str]:
        """The item key of every envelope in the queue."""
        return {
            json.loads(json.loads(m["Body"])["subject"])["pk"] for m in peek(self.sqs, queue_url)
        }


@pytest.fixture
def world(aws: None) -> World:
    return World()


def delivered_by_sns(world: World, policy: dict[str, Any], scope: str, run: Checkpoint) -> set[str]:
    """Publish each snapshot as the router would and see what the subscription receives."""
    url, arn = world.queue("subscribed")
    world.sns.subscribe(
        TopicArn=world.topic_arn,
        Protocol="sqs",
        Endpoint=arn,
        Attributes={
            "RawMessageDelivery": "true",
            "FilterPolicy": json.dumps(policy),
            "FilterPolicyScope": scope,
        },
    )
    from fanout.local.records import to_lambda_image

    for item in world.dynamodb.scan(TableName=TABLE)["Items"]:
        message = snapshot_outbound(
            to_lambda_image(item),
            ("pk",),
            world.table_arn,
            EntityRules(),
            run.run_id,
            run.scanned_at,
        )
        world.sns.publish(
            TopicArn=world.topic_arn, Message=message.body, MessageAttributes=message.attributes
        )
    return world.subjects(url)


def sent_by_backfill(
    world: World, policy: dict[str, Any], scope: str, run: Checkpoint
) -> tuple[set[str], Any]:
    url, _ = world.queue("backfilled")
    target = Target(
        table=TABLE,
        table_arn=world.table_arn,
        key_names=("pk",),
        queue_url=url,
        rules=EntityRules(),
        max_message_bytes=256 * 1024,
        payload_bucket=None,
        filter_policy=FilterPolicy(policy, scope),
    )
    report = Backfill(
        world.dynamodb, world.sqs, boto3.client("s3"), target, run, read_units_per_second=0
    ).run()
    return world.subjects(url), report


@pytest.mark.parametrize("case", list(CASES))
def test_backfill_sends_what_sns_delivers(world: World, tmp_path: Path, case: str):
    # GIVEN a consumer subscribed with this policy, and one backfill run
    policy, scope, expected = CASES[case]
    run = Checkpoint.load_or_start(tmp_path / "run.json", "billing", TABLE, 1)

    # WHEN the snapshots go through SNS, and when backfill sends them
    through_sns = delivered_by_sns(world, policy, scope, run)
    backfilled, report = sent_by_backfill(world, policy, scope, run)

    # THEN both deliver the same items: the ones SNS's rules select
    assert through_sns == expected, "moto's SNS departs from the documented rule"
    assert backfilled == through_sns
    assert (report.sent, report.filtered) == (len(expected), len(ITEMS) - len(expected))


def test_without_a_policy_every_item_is_sent(world: World, tmp_path: Path):
    run = Checkpoint.load_or_start(tmp_path / "run.json", "audit", TABLE, 1)

    backfilled, report = sent_by_backfill(world, {}, ATTRIBUTES, run)

    assert backfilled == set(ITEMS)
    assert report.filtered == 0


class TestThePolicyComesFromTheConsumersStack:
    """The backfill reads the policy the consumer kit gave the subscription."""

    def stack(self, **parameters: str) -> dict[str, Any]:
        outputs = {
            "QueueUrl": "https://sqs.us-east-1.amazonaws.com/123456789012/q",
            "QueueArn": "arn:aws:sqs:us-east-1:123456789012:q",
            "DeadLetterQueueUrl": "https://sqs.us-east-1.amazonaws.com/123456789012/d",
            "DeadLetterQueueArn": "arn:aws:sqs:us-east-1:123456789012:d",
        }
        return {
            "StackName": "fanout-hub-BillingConsumer",
            "Outputs": [{"OutputKey": k, "OutputValue": v} for k, v in outputs.items()],
            "Parameters": [
                {"ParameterKey": k, "ParameterValue": v}
                for k, v in {"ConsumerName": "billing", **parameters}.items()
            ],
        }

    def test_the_kits_parameters_become_the_policy(self):
        consumer = consumer_of(
            self.stack(FilterPolicy='{"type": [{"prefix": "order."}]}', FilterPolicyScope=BODY)
        )

        assert consumer is not None
        policy = FilterPolicy.of_text(consumer.filter_policy, consumer.filter_policy_scope)
        assert policy == FilterPolicy({"type": [{"prefix": "order."}]}, BODY)

    def test_an_empty_parameter_is_no_policy(self):
        consumer = consumer_of(self.stack(FilterPolicy=""))

        assert consumer is not None
        policy = FilterPolicy.of_text(consumer.filter_policy, consumer.filter_policy_scope)
        assert not policy.filters
        assert policy.scope == ATTRIBUTES
