"""``fanout consumers`` on a deployed hub: the kit's Owner tags each queue, the topic names every consumer.

template.yaml is created in moto through ``fanout.deploy`` once per module; the command
then reads the live subscriptions (ListSubscriptionsByTopic, GetSubscriptionAttributes)
and each queue's ``fanout:owner`` tag (ListQueueTags).
https://docs.aws.amazon.com/sns/latest/api/API_ListSubscriptionsByTopic.html
https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_ListQueueTags.html
"""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from fanout.audience import OWNER_TAG
from fanout.deploy import deployer
from tests.support.cli import run_fanout

WEBHOOK = {
    "WebhookUrls": "https://hooks.example.com/fanout",
    "WebhookSecretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:hub/webhook-AbCdEf",
    "WebhookAllowedNetworks": "10.20.0.0/16",
}


@pytest.fixture(scope="module")
def deployed():
    with mock_aws():
        yield deployer.deploy(stack_name="hub", parameters=WEBHOOK)


@pytest.fixture(autouse=True)
def _no_local_hub(monkeypatch):
    monkeypatch.setattr("fanout.local.hub.load_state", lambda: None)


class TestOwnerTag:
    """The kit's Owner parameter becomes the queue's fanout:owner tag."""

    def test_every_in_repo_consumer_queue_is_tagged(self, deployed):
        sqs = boto3.client("sqs")
        for name in ("AuditLogConsumer", "ProjectionConsumer", "WebhookConsumer"):
            queue = deployed.nested[name].queues["Queue"]
            tags = sqs.list_queue_tags(QueueUrl=queue.url).get("Tags", {})
            assert tags.get(OWNER_TAG) == "fanout-hub", name


class TestLiveConsumers:
    """The deployed subscriptions answer the question, by the consumers' own names."""

    def test_an_entity_reaches_every_consumer_by_its_policy(self, deployed):
        ran = run_fanout(["consumers", "--entity", "user", "--stack-name", "hub", "--json"])
        assert ran.code == 0, ran.err
        listed = {c["consumer"]: c for c in ran.document()["consumers"]}
        assert {name: (c["owner"], c["admits"], c["source"]) for name, c in listed.items()} == {
            "audit-log": ("fanout-hub", "receives", "topic"),
            "projection": ("fanout-hub", "receives", "topic"),
            "webhook": ("fanout-hub", "receives some", "topic"),
        }

    def test_a_type_the_webhook_refuses(self, deployed):
        ran = run_fanout(["consumers", "--type", "user.updated", "--stack-name", "hub", "--json"])
        assert [c["consumer"] for c in ran.document()["consumers"]] == ["audit-log", "projection"]
