"""``FifoMode=true`` deploys through ``fanout.deploy`` with the settings AWS requires of a FIFO hub.

AWS rules checked here, each from its page:

- "Batching window is not supported for FIFO queues", and a FIFO mapping's BatchSize is
  at most 10: https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-parameters.html
- high throughput FIFO needs ``DeduplicationScope: messageGroup`` and
  ``FifoThroughputLimit: perMessageGroupId`` on the queue:
  https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/enable-high-throughput-fifo.html
- a FIFO topic's throughput and deduplication per message group, ``FifoThroughputScope``:
  https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-sns-topic.html
- active tracing "is only supported on standard topics":
  https://docs.aws.amazon.com/sns/latest/api/API_CreateTopic.html
"""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest
from moto import mock_aws
from support.secrets import UNREAD_SECRET_ARN
from support.templates import KIT_LAYERS

from fanout.deploy import deployer
from fanout.deploy.exceptions import StackError

ROOT = Path(__file__).resolve().parents[2]
KIT = ROOT / "consumers" / "kit" / "template.yaml"
CONSUMERS = ("AuditLogConsumer", "ProjectionConsumer", "WebhookConsumer")
FIFO = {
    "FifoMode": "true",
    "WebhookUrls": "https://hooks.example.com/fanout",
    "WebhookSecretArn": UNREAD_SECRET_ARN,
}

KIT_PARAMETERS = {
    "TopicArn": "arn:aws:sns:us-east-1:123456789012:hub.fifo",
    "ConsumerName": "orders",
    "Handler": "consumers.audit_log.app.handler",
    **KIT_LAYERS,
}


@pytest.fixture(scope="module")
def deployed():
    with mock_aws():
        yield deployer.deploy(stack_name="fifo", parameters=FIFO)


def moto_topic(arn: str):
    """moto's own model of a topic: its GetTopicAttributes leaves FifoThroughputScope out."""
    from moto.sns.models import sns_backends

    account, region = arn.split(":")[4], arn.split(":")[3]
    return sns_backends[account][region].topics[arn]


class TestTopic:
    """The topic is FIFO, high throughput, and without the tracing mode FIFO topics refuse."""

    def test_fifo_topic_with_message_group_scope(self, deployed):
        arn = deployed.outputs["TopicArn"]
        assert arn.endswith(".fifo")
        attributes = boto3.client("sns").get_topic_attributes(TopicArn=arn)["Attributes"]
        assert attributes["FifoTopic"] == "true"
        topic = moto_topic(arn)
        assert topic.fifo_throughput_scope == "MessageGroup"
        assert not hasattr(topic, "tracing_config")

    def test_router_publishes_to_the_fifo_topic(self, deployed):
        router = deployed.functions["RouterFunction"]
        assert router.environment["TOPIC_ARN"] == deployed.outputs["TopicArn"]


class TestConsumerQueues:
    """Every consumer queue and its DLQ are FIFO, with high throughput per message group."""

    @pytest.mark.parametrize("consumer", CONSUMERS)
    @pytest.mark.parametrize("queue", ["Queue", "DeadLetterQueue"])
    def test_high_throughput_fifo(self, deployed, consumer, queue):
        attributes = deployed.nested[consumer].queues[queue].attributes
        assert attributes["QueueArn"].endswith(".fifo")
        assert attributes["FifoQueue"] == "true"
        assert attributes["DeduplicationScope"] == "messageGroup"
        assert attributes["FifoThroughputLimit"] == "perMessageGroupId"

    @pytest.mark.parametrize("consumer", CONSUMERS)
    def test_redrive_goes_to_a_fifo_dlq(self, deployed, consumer):
        kit = deployed.nested[consumer]
        queue, dlq = kit.queues["Queue"], kit.queues["DeadLetterQueue"]
        assert queue.redrive_policy is not None
        assert queue.redrive_policy.dead_letter_arn == dlq.arn
        assert dlq.arn.endswith(".fifo")


class TestMappings:
    """Each consumer mapping is one Lambda accepts on a FIFO queue."""

    @pytest.mark.parametrize("consumer", CONSUMERS)
    def test_no_batching_window_and_at_most_ten(self, deployed, consumer):
        (mapping,) = deployed.nested[consumer].event_source_mappings
        assert mapping.source_arn.endswith(".fifo")
        assert "MaximumBatchingWindowInSeconds" not in mapping.properties
        assert 1 <= mapping.properties["BatchSize"] <= 10
        assert mapping.properties["FunctionResponseTypes"] == ["ReportBatchItemFailures"]

    def test_standard_mode_keeps_its_batching_window(self):
        with mock_aws():
            hub = deployer.deploy(stack_name="standard")
        for consumer in ("AuditLogConsumer", "ProjectionConsumer"):
            (mapping,) = hub.nested[consumer].event_source_mappings
            assert not mapping.source_arn.endswith(".fifo")
            assert mapping.properties["MaximumBatchingWindowInSeconds"] == 1


class TestKitRules:
    """The kit's rule refuses a FIFO BatchSize Lambda would refuse, before anything is created."""

    def test_fifo_batch_size_above_ten_is_refused(self):
        with mock_aws():
            with pytest.raises(StackError, match="FifoBatchSize") as refused:
                deployer.deploy(
                    KIT,
                    stack_name="kit-fifo-11",
                    parameters={**KIT_PARAMETERS, "FifoMode": "true", "BatchSize": "11"},
                )
            stacks = boto3.client("cloudformation").list_stacks()["StackSummaries"]
        assert "BatchSize must be 10 or less" in str(refused.value)
        assert "kit-fifo-11" not in {s["StackName"] for s in stacks}

    @pytest.mark.parametrize(("fifo", "batch_size"), [("true", "10"), ("false", "11")])
    def test_sizes_lambda_accepts_pass_the_rule(self, fifo, batch_size):
        with mock_aws():
            sns = boto3.client("sns")
            topic = sns.create_topic(
                Name="hub.fifo" if fifo == "true" else "hub",
                Attributes={"FifoTopic": "true"} if fifo == "true" else {},
            )["TopicArn"]
            kit = deployer.deploy(
                KIT,
                # A FIFO queue's generated name is cut to SQS's 80 characters (moto cuts a
                # standard one itself, so two queues of a long stack name would collide there).
                stack_name=f"kit-{fifo}-{batch_size}" + ("-" + "x" * 70 if fifo == "true" else ""),
                parameters={
                    **KIT_PARAMETERS,
                    "TopicArn": topic,
                    "FifoMode": fifo,
                    "BatchSize": batch_size,
                },
            )
        (mapping,) = kit.event_source_mappings
        assert mapping.properties["BatchSize"] == int(batch_size)
        for queue in kit.queues.values():
            assert len(queue.name) <= 80  # SQS limit on a queue name
            assert queue.name.endswith(".fifo") == (fifo == "true")
