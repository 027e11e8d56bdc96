"""A queue subscribed to the hub's topic must let the topic deliver to it.

SNS delivers to an SQS queue as ``sns.amazonaws.com``; without a queue policy allowing
``sqs:SendMessage`` from the topic (``aws:SourceArn``) every delivery fails.
https://docs.aws.amazon.com/sns/latest/dg/subscribe-sqs-queue-to-sns-topic.html
moto delivers anyway, so the local hub refuses such a subscription when it deploys.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from fanout.connection import Connection
from fanout.local.access import DeliveryRefusedError, PolicyStore, check_queue_subscriptions


def subscribed_queue(policy_source: str | None) -> tuple[Connection, str]:
    """A topic and a queue subscribed to it, whose policy names ``policy_source`` (or none)."""
    sns, sqs = boto3.client("sns", "us-east-1"), boto3.client("sqs", "us-east-1")
    topic = sns.create_topic(Name="hub-Topic")["TopicArn"]
    url = sqs.create_queue(QueueName="hub-Queue")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    if policy_source is not None:
        statement: dict[str, Any] = {
            "Effect": "Allow",
            "Principal": {"Service": "sns.amazonaws.com"},
            "Action": "sqs:SendMessage",
            "Resource": arn,
            "Condition": {"ArnEquals": {"aws:SourceArn": policy_source.format(topic=topic)}},
        }
        policy = {"Version": "2012-10-17", "Statement": [statement]}
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(policy)})
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    return Connection(region="us-east-1"), topic


class TestQueueSubscriptionPolicy:
    """Deploying refuses a subscribed queue SNS could never deliver to."""

    def test_a_queue_allowing_the_topic_is_accepted(self, aws: None):
        connection, topic = subscribed_queue("{topic}")

        assert check_queue_subscriptions(connection, PolicyStore(connection), topic) == 1

    def test_a_queue_whose_policy_names_another_topic_is_refused(self, aws: None):
        connection, topic = subscribed_queue("arn:aws:sns:us-east-1:123456789012:other")

        with pytest.raises(DeliveryRefusedError, match=r"does not let sns\.amazonaws\.com"):
            check_queue_subscriptions(connection, PolicyStore(connection), topic)

    def test_a_queue_without_a_policy_is_refused(self, aws: None):
        connection, topic = subscribed_queue(None)

        with pytest.raises(DeliveryRefusedError, match="no identity-based or resource-based"):
            check_queue_subscriptions(connection, PolicyStore(connection), topic)
