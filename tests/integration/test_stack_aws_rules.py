"""A template AWS would refuse fails the local deploy with AWS's error text; template.yaml passes.

moto creates all of these without complaint (or with its own wording); ``fanout.deploy``
refuses each with the code and message AWS answers with and the resource's path. The
rules, with their AWS pages, are in ``fanout.aws_rules``; their edges are unit-tested in
``tests/unit/fanout/test_aws_rules.py``. Each test here deploys a small template in moto.
"""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest
from support import templates as t
from support.secrets import UNREAD_SECRET_ARN

from fanout.aws_rules import AwsRuleError
from fanout.deploy import deployer

ROOT = Path(__file__).resolve().parents[2]
KIT = ROOT / "consumers" / "kit" / "template.yaml"
WEBHOOK = {
    "WebhookUrls": "https://hooks.example.com/fanout",
    "WebhookSecretArn": UNREAD_SECRET_ARN,
}
QUEUE_ARN = {"Fn::GetAtt": ["Queue", "Arn"]}


def refused(template: Path, **parameters: str) -> str:
    """The message of the refusal the local deploy raises for ``template``."""
    with pytest.raises(AwsRuleError) as caught:
        deployer.deploy(template, stack_name="rules", parameters=parameters)
    return str(caught.value)


@pytest.mark.usefixtures("aws")
class TestRealTemplates:
    """The hub as shipped (standard mode) passes every rule; the kit still guards its inputs."""

    def test_template_yaml_passes_every_rule(self):
        # GIVEN template.yaml with every consumer, standard mode WHEN it is deployed locally
        deployed = deployer.deploy(stack_name="hub", parameters=WEBHOOK)
        # THEN no rule refused it, and the rules saw every mapping, queue and subscription
        assert len(deployed.all_event_source_mappings()) == 4
        assert len(deployed.all_subscriptions()) == 3
        assert set(deployed.all_topics()) == {"Topic", "AlarmTopic"}

    @pytest.mark.parametrize(
        ("stack_name", "rule"),
        [
            ("FanoutHub", "lowercase letters"),
            ("fanout-hub-orders-production-eu", "is 64 characters"),
        ],
    )
    def test_a_stack_name_the_artifacts_bucket_cannot_carry_is_refused(self, stack_name, rule):
        # GIVEN template.yaml, whose artifacts bucket is named after the stack (moto would
        # create an uppercase name, and refuse a long one with no word of the stack name)
        # WHEN it is deployed under a name S3 cannot carry
        with pytest.raises(AwsRuleError) as caught:
            deployer.deploy(stack_name=stack_name, parameters=WEBHOOK)
        # THEN S3's refusal, naming the bucket and the stack name's room (us-east-1: 30)
        assert caught.value.code == "InvalidBucketName"
        assert caught.value.resource == "ArtifactsBucket"
        assert rule in caught.value.message
        assert "use a stack name of at most 30 lowercase letters" in caught.value.message

    def test_kit_with_batch_above_ten_and_no_window_is_refused(self):
        # GIVEN the consumer kit with BatchSize 11 and its batching window set to 0
        topic_arn = boto3.client("sns").create_topic(Name="hub")["TopicArn"]
        # WHEN it is deployed THEN Lambda's refusal names the kit's mapping
        assert refused(
            KIT,
            TopicArn=topic_arn,
            ConsumerName="audit-log",
            Handler="consumers.audit_log.app.handler",
            **t.KIT_LAYERS,
            BatchSize="11",
            MaximumBatchingWindowInSeconds="0",
        ) == (
            "InvalidParameterValueException: Maximum batch window in seconds must be greater"
            " than 0 if maximum batch size is greater than 10 (ConsumerFunctionQueue)"
        )

    def test_kit_with_a_consumer_config_over_lambdas_environment_quota_is_refused(self):
        # GIVEN the consumer kit with a ConsumerConfig that alone fills the 4 KB quota
        topic_arn = boto3.client("sns").create_topic(Name="hub")["TopicArn"]
        config = json.dumps({"PARTNER_URLS": "https://partner.example/" + "x" * 4096})
        # WHEN it is deployed THEN Lambda's refusal names the kit's function
        message = refused(
            KIT,
            TopicArn=topic_arn,
            ConsumerName="audit-log",
            Handler="consumers.audit_log.app.handler",
            **t.KIT_LAYERS,
            ConsumerConfig=config,
        )
        assert message.startswith(
            "InvalidParameterValueException: Lambda was unable to configure your environment"
            " variables because the environment variables you have provided exceeded the 4KB"
            " limit. String measured: "
        )
        assert message.endswith(" bytes (ConsumerFunction)")


@pytest.mark.usefixtures("aws")
class TestMappingRules:
    """CreateEventSourceMapping's refusals, one template each."""

    def test_fifo_queue_mapping_with_batching_window(self, tmp_path):
        template = t.write(
            tmp_path, t.queue_consumer(fifo=True, BatchSize=10, MaximumBatchingWindowInSeconds=1)
        )
        assert refused(template) == (
            "InvalidParameterValueException: Batching window is not supported for FIFO queues"
            " (FunctionQueue)"
        )

    def test_fifo_queue_mapping_with_batch_above_ten(self, tmp_path):
        template = t.write(tmp_path, t.queue_consumer(fifo=True, BatchSize=20))
        assert refused(template) == (
            "InvalidParameterValueException: Maximum batch window in seconds must be greater"
            " than 0 if maximum batch size is greater than 10 (FunctionQueue)"
        )

    def test_standard_queue_mapping_with_batch_above_ten_and_no_window(self, tmp_path):
        template = t.write(tmp_path, t.queue_consumer(BatchSize=100))
        assert "Maximum batch window in seconds must be greater than 0" in refused(template)

    def test_batch_size_above_the_maximum(self, tmp_path):
        template = t.write(
            tmp_path, t.queue_consumer(BatchSize=10_001, MaximumBatchingWindowInSeconds=1)
        )
        assert refused(template) == (
            "ValidationException: 1 validation error detected: Value '10001' at 'batchSize'"
            " failed to satisfy constraint: Member must have value less than or equal to 10000"
            " (FunctionQueue)"
        )

    def test_maximum_concurrency_out_of_range(self, tmp_path):
        template = t.write(tmp_path, t.queue_consumer(ScalingConfig={"MaximumConcurrency": 1}))
        assert "at 'scalingConfig.maximumConcurrency' failed to satisfy constraint" in refused(
            template
        )

    def test_stream_mapping_retries_out_of_range(self, tmp_path):
        template = t.write(tmp_path, t.stream_consumer(MaximumRetryAttempts=10_001))
        assert refused(template) == (
            "ValidationException: 1 validation error detected: Value '10001' at"
            " 'maximumRetryAttempts' failed to satisfy constraint: Member must have value less"
            " than or equal to 10000 (FunctionStream)"
        )

    def test_stream_mapping_record_age_under_a_minute(self, tmp_path):
        template = t.write(tmp_path, t.stream_consumer(MaximumRecordAgeInSeconds=30))
        assert refused(template) == (
            "InvalidParameterValueException: MaximumRecordAgeInSeconds must be either -1"
            " (forever) or between 60 and 604800 (inclusive) (FunctionStream)"
        )

    def test_bisect_on_a_queue_mapping(self, tmp_path):
        resources = t.queue_consumer()
        resources["Function"]["Properties"].pop("Events")
        resources["Mapping"] = {
            "Type": "AWS::Lambda::EventSourceMapping",
            "Properties": {
                "EventSourceArn": QUEUE_ARN,
                "FunctionName": {"Ref": "Function"},
                "BisectBatchOnFunctionError": True,
            },
        }
        assert refused(t.write(tmp_path, resources)) == (
            "InvalidParameterValueException: Unsupported BisectBatchOnFunctionError parameter"
            " for given event source mapping type. (Mapping)"
        )

    def test_queue_visibility_timeout_below_function_timeout(self, tmp_path):
        template = t.write(tmp_path, t.queue_consumer(timeout=60, visibility=30))
        assert refused(template) == (
            "InvalidParameterValueException: Queue visibility timeout: 30 seconds is less than"
            " Function timeout: 60 seconds (FunctionQueue)"
        )


@pytest.mark.usefixtures("aws")
class TestQueueAndTopicRules:
    """SQS's and SNS's refusals, one template each."""

    @pytest.mark.parametrize(("source_fifo", "dlq_fifo"), [(False, True), (True, False)])
    def test_dead_letter_queue_of_the_other_type(self, tmp_path, source_fifo, dlq_fifo):
        redrive = {"deadLetterTargetArn": {"Fn::GetAtt": ["Dlq", "Arn"]}, "maxReceiveCount": 5}
        template = t.write(
            tmp_path,
            {
                "Dlq": t.queue("dlq", fifo=dlq_fifo),
                "Queue": t.queue("source", fifo=source_fifo, RedrivePolicy=redrive),
            },
        )
        message = refused(template)
        assert message.startswith("InvalidParameterValue: Value {")
        assert message.endswith(
            "for parameter RedrivePolicy is invalid. Reason: Dead-letter queue must be same type"
            " of queue as the source. (Queue)"
        )

    def test_fifo_queue_subscribed_to_standard_topic(self, tmp_path):
        template = t.write(
            tmp_path,
            {
                "Topic": t.topic(),
                "Queue": t.queue("orders", fifo=True),
                "Subscription": t.subscription("Topic", "sqs", QUEUE_ARN),
            },
        )
        assert refused(template) == (
            "InvalidParameter: Invalid parameter: Invalid parameter: Endpoint Reason: FIFO SQS"
            " Queues can not be subscribed to standard SNS topics (Subscription)"
        )

    def test_standard_queue_subscribed_to_fifo_topic_is_accepted(self, tmp_path):
        # AWS's own example subscribes a standard queue to a FIFO topic.
        template = t.write(
            tmp_path,
            {
                "Topic": t.topic(FifoTopic=True, TopicName="hub.fifo"),
                "Queue": t.queue("analytics"),
                "Subscription": t.subscription("Topic", "sqs", QUEUE_ARN),
            },
        )
        deployed = deployer.deploy(template, stack_name="rules")
        assert deployed.subscriptions["Subscription"].topic_arn.endswith("hub.fifo")

    def test_fifo_subscription_redriving_to_standard_queue(self, tmp_path):
        template = t.write(
            tmp_path,
            {
                "Topic": t.topic(FifoTopic=True, TopicName="hub.fifo"),
                "Queue": t.queue("orders", fifo=True),
                "Dlq": t.queue("orders-dlq"),
                "Subscription": t.subscription(
                    "Topic",
                    "sqs",
                    QUEUE_ARN,
                    RedrivePolicy={"deadLetterTargetArn": {"Fn::GetAtt": ["Dlq", "Arn"]}},
                ),
            },
        )
        assert refused(template) == (
            "InvalidParameter: Invalid parameter: Attributes Reason: RedrivePolicy: must use a"
            " FIFO queue as DLQ for a FIFO Subscription to a FIFO Topic. (Subscription)"
        )

    def test_standard_subscription_redriving_to_fifo_queue(self, tmp_path):
        # "standard topic subscriptions use standard queues" as dead-letter queues:
        # https://docs.aws.amazon.com/sns/latest/dg/sns-dead-letter-queues.html
        template = t.write(
            tmp_path,
            {
                "Topic": t.topic(),
                "Queue": t.queue("orders"),
                "Dlq": t.queue("orders-dlq", fifo=True),
                "Subscription": t.subscription(
                    "Topic",
                    "sqs",
                    QUEUE_ARN,
                    RedrivePolicy={"deadLetterTargetArn": {"Fn::GetAtt": ["Dlq", "Arn"]}},
                ),
            },
        )
        assert refused(template) == (
            "InvalidParameter: Invalid parameter: Attributes Reason: RedrivePolicy: a subscription"
            " to a standard topic must use a standard queue as DLQ (Subscription)"
        )

    def test_fifo_topic_with_active_tracing(self, tmp_path):
        # "This is only supported on standard topics":
        # https://docs.aws.amazon.com/sns/latest/api/API_CreateTopic.html
        template = t.write(
            tmp_path,
            {"Topic": t.topic(FifoTopic=True, TopicName="hub.fifo", TracingConfig="Active")},
        )
        assert refused(template) == (
            "InvalidParameter: Invalid parameter: Attributes Reason: TracingConfig Active is only"
            " supported on standard topics (Topic)"
        )

    def test_large_topic_with_an_email_subscription(self, tmp_path):
        template = t.write(
            tmp_path,
            {
                "Topic": t.topic(MaximumMessageSize=1_048_576),
                "Email": t.subscription("Topic", "email", "ops@example.com"),
            },
        )
        message = refused(template)
        assert message.startswith(
            "InvalidParameter: A topic with a MaximumMessageSize above 256 KiB must have 100 or"
            " fewer subscriptions, and each subscription must be an Amazon SQS, Amazon Data"
            " Firehose, or AWS Lambda subscription"
        )
        assert message.endswith("it has email subscriptions) (Topic)")
