"""AWS's rules for mappings, queues, subscriptions and topics, as plain functions (no moto).

Each class is one rule: a configuration AWS refuses raises ``AwsRuleError`` with AWS's
code and text and the resource's path; the nearest configuration AWS accepts passes.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from fanout.aws_rules import (
    AwsRuleError,
    check_buckets,
    check_large_topic,
    check_mapping,
    check_parameter_names,
    check_parameter_value,
    check_queues,
    check_subscription,
    check_topics,
    check_visibility_timeout,
)
from fanout.aws_rules.lambda_ import check_environment_size
from fanout.aws_rules.s3 import check_bucket_name
from fanout.deploy.template import load_template
from fanout.local.model import MappingSpec

ROOT = Path(__file__).resolve().parents[3]

REGION_ACCOUNT = "arn:aws:sqs:us-east-1:123456789012"
QUEUE = f"{REGION_ACCOUNT}:orders"
FIFO_QUEUE = f"{REGION_ACCOUNT}:orders.fifo"
STREAM = "arn:aws:dynamodb:us-east-1:123456789012:table/Orders/stream/2026-11-27T00:00:00.000"
TOPIC = "arn:aws:sns:us-east-1:123456789012:hub"
FIFO_TOPIC = "arn:aws:sns:us-east-1:123456789012:hub.fifo"
STREAM_MAPPING = {"EventSourceArn": STREAM, "StartingPosition": "TRIM_HORIZON"}


def refused(call, *args, **kwargs) -> AwsRuleError:
    with pytest.raises(AwsRuleError) as caught:
        call(*args, **kwargs)
    return caught.value


class TestFifoBatchingWindow:
    """A FIFO queue mapping takes no batching window."""

    def test_window_on_fifo_queue_is_refused(self):
        error = refused(
            check_mapping,
            {"EventSourceArn": FIFO_QUEUE, "BatchSize": 10, "MaximumBatchingWindowInSeconds": 1},
            "Kit/ConsumerFunctionQueue",
        )
        assert str(error) == (
            "InvalidParameterValueException: Batching window is not supported for FIFO queues"
            " (Kit/ConsumerFunctionQueue)"
        )
        assert (
            error.doc == "https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-parameters.html"
        )

    def test_fifo_queue_without_window_and_standard_queue_with_one_pass(self):
        check_mapping({"EventSourceArn": FIFO_QUEUE, "BatchSize": 10}, "fifo")
        check_mapping(
            {"EventSourceArn": QUEUE, "BatchSize": 10, "MaximumBatchingWindowInSeconds": 1}, "std"
        )


class TestQueueBatchSize:
    """SQS BatchSize above 10 needs a window; a FIFO queue can have none, so never above 10."""

    WITHOUT_WINDOW = (
        "InvalidParameterValueException: Maximum batch window in seconds must be greater than 0"
        " if maximum batch size is greater than 10 (m)"
    )

    def test_standard_queue_above_ten_without_window_is_refused(self):
        assert str(refused(check_mapping, {"EventSourceArn": QUEUE, "BatchSize": 11}, "m")) == (
            self.WITHOUT_WINDOW
        )

    def test_standard_queue_above_ten_with_one_second_window_passes(self):
        check_mapping(
            {"EventSourceArn": QUEUE, "BatchSize": 10_000, "MaximumBatchingWindowInSeconds": 1},
            "m",
        )

    def test_fifo_queue_above_ten_is_refused_with_or_without_window(self):
        alone = refused(check_mapping, {"EventSourceArn": FIFO_QUEUE, "BatchSize": 11}, "m")
        windowed = refused(
            check_mapping,
            {"EventSourceArn": FIFO_QUEUE, "BatchSize": 11, "MaximumBatchingWindowInSeconds": 5},
            "m",
        )
        assert str(alone) == self.WITHOUT_WINDOW
        assert windowed.message == "Batching window is not supported for FIFO queues"

    def test_stream_batch_above_ten_needs_no_window(self):
        check_mapping({**STREAM_MAPPING, "BatchSize": 10_000}, "router")


class TestRanges:
    """Every integer member stays in CreateEventSourceMapping's valid range."""

    @pytest.mark.parametrize(
        ("member", "value", "wire", "constraint"),
        [
            ("BatchSize", 0, "batchSize", "greater than or equal to 1"),
            ("BatchSize", 10_001, "batchSize", "less than or equal to 10000"),
            ("MaximumBatchingWindowInSeconds", 301, "maximumBatchingWindowInSeconds", "less than or equal to 300"),
            ("ParallelizationFactor", 0, "parallelizationFactor", "greater than or equal to 1"),
            ("ParallelizationFactor", 11, "parallelizationFactor", "less than or equal to 10"),
            ("MaximumRetryAttempts", -2, "maximumRetryAttempts", "greater than or equal to -1"),
            ("MaximumRetryAttempts", 10_001, "maximumRetryAttempts", "less than or equal to 10000"),
            ("MaximumRecordAgeInSeconds", 604_801, "maximumRecordAgeInSeconds", "less than or equal to 604800"),
            ("TumblingWindowInSeconds", 901, "tumblingWindowInSeconds", "less than or equal to 900"),
        ],
    )  # fmt: skip
    def test_out_of_range_member_is_refused(self, member, value, wire, constraint):
        error = refused(check_mapping, {**STREAM_MAPPING, member: value}, "router")
        assert error.code == "ValidationException"
        assert error.message == (
            f"1 validation error detected: Value '{value}' at '{wire}' failed to satisfy"
            f" constraint: Member must have value {constraint}"
        )

    @pytest.mark.parametrize("concurrency", [1, 1001])
    def test_maximum_concurrency_outside_two_to_a_thousand_is_refused(self, concurrency):
        mapping = {"EventSourceArn": QUEUE, "ScalingConfig": {"MaximumConcurrency": concurrency}}
        error = refused(check_mapping, mapping, "m")
        assert "at 'scalingConfig.maximumConcurrency'" in error.message

    def test_values_from_nested_stack_parameters_are_read_as_numbers(self):
        check_mapping({"EventSourceArn": QUEUE, "BatchSize": "10"}, "m")
        with pytest.raises(AwsRuleError, match="Value '0' at 'batchSize'"):
            check_mapping({"EventSourceArn": QUEUE, "BatchSize": "0"}, "m")

    def test_edges_pass(self):
        check_mapping(
            {
                **STREAM_MAPPING,
                "BatchSize": 1,
                "ParallelizationFactor": 10,
                "MaximumRetryAttempts": -1,
                "MaximumRecordAgeInSeconds": 604_800,
                "TumblingWindowInSeconds": 900,
                "MaximumBatchingWindowInSeconds": 300,
            },
            "router",
        )


class TestRecordAge:
    """MaximumRecordAgeInSeconds is -1 or at least 60."""

    @pytest.mark.parametrize("age", [0, 59])
    def test_below_a_minute_is_refused(self, age):
        error = refused(check_mapping, {**STREAM_MAPPING, "MaximumRecordAgeInSeconds": age}, "r")
        assert error.message == (
            "MaximumRecordAgeInSeconds must be either -1 (forever) or between 60 and 604800"
            " (inclusive)"
        )

    @pytest.mark.parametrize("age", [-1, 60])
    def test_forever_and_one_minute_pass(self, age):
        check_mapping({**STREAM_MAPPING, "MaximumRecordAgeInSeconds": age}, "r")


class TestStreamOnlyParameters:
    """Bisect, retries, record age, parallelization, destinations apply to streams only."""

    @pytest.mark.parametrize(
        ("member", "value"),
        [
            ("BisectBatchOnFunctionError", True),
            ("MaximumRetryAttempts", 2),
            ("ParallelizationFactor", 2),
            ("DestinationConfig", {"OnFailure": {"Destination": QUEUE}}),
        ],
    )
    def test_on_a_queue_mapping_is_refused(self, member, value):
        error = refused(check_mapping, {"EventSourceArn": QUEUE, member: value}, "m")
        assert (
            error.message == f"Unsupported {member} parameter for given event source mapping type."
        )

    def test_on_a_stream_mapping_passes(self):
        check_mapping(
            {
                **STREAM_MAPPING,
                "BisectBatchOnFunctionError": True,
                "MaximumRetryAttempts": 2,
                "DestinationConfig": {"OnFailure": {"Destination": QUEUE}},
            },
            "router",
        )


class TestStartingPosition:
    """A DynamoDB stream mapping starts at TRIM_HORIZON or LATEST."""

    def test_at_timestamp_is_refused(self):
        error = refused(check_mapping, {**STREAM_MAPPING, "StartingPosition": "AT_TIMESTAMP"}, "r")
        assert error.message == f"Unsupported starting position for arn type: {STREAM}"

    def test_missing_is_refused(self):
        error = refused(check_mapping, {"EventSourceArn": STREAM}, "r")
        assert "Value null at 'startingPosition'" in error.message


class TestVisibilityTimeout:
    """A queue's visibility timeout is at least its consumer function's timeout."""

    def test_shorter_than_the_function_is_refused(self):
        error = refused(check_visibility_timeout, 30, 60, "Kit/ConsumerFunctionQueue")
        assert str(error) == (
            "InvalidParameterValueException: Queue visibility timeout: 30 seconds is less than"
            " Function timeout: 60 seconds (Kit/ConsumerFunctionQueue)"
        )

    def test_equal_passes(self):
        check_visibility_timeout(60, 60, "m")


class TestFifoSubscriptions:
    """A FIFO queue cannot subscribe to a standard topic; a standard queue may join a FIFO one."""

    def test_fifo_queue_on_standard_topic_is_refused(self):
        properties = {"TopicArn": TOPIC, "Protocol": "sqs", "Endpoint": FIFO_QUEUE}
        error = refused(check_subscription, properties, "Kit/Subscription")
        assert str(error) == (
            "InvalidParameter: Invalid parameter: Invalid parameter: Endpoint Reason: FIFO SQS"
            " Queues can not be subscribed to standard SNS topics (Kit/Subscription)"
        )

    @pytest.mark.parametrize(
        ("topic", "queue"), [(FIFO_TOPIC, QUEUE), (FIFO_TOPIC, FIFO_QUEUE), (TOPIC, QUEUE)]
    )
    def test_other_pairs_pass(self, topic, queue):
        check_subscription({"TopicArn": topic, "Protocol": "sqs", "Endpoint": queue}, "s")


class TestSubscriptionDeadLetterQueue:
    """A FIFO queue's subscription to a FIFO topic redrives to a FIFO queue."""

    def test_standard_dlq_is_refused(self):
        properties = {
            "TopicArn": FIFO_TOPIC,
            "Protocol": "sqs",
            "Endpoint": FIFO_QUEUE,
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": f"{REGION_ACCOUNT}:dlq"}),
        }
        error = refused(check_subscription, properties, "s")
        assert error.message == (
            "Invalid parameter: Attributes Reason: RedrivePolicy: must use a FIFO queue as DLQ"
            " for a FIFO Subscription to a FIFO Topic."
        )

    def test_fifo_dlq_passes(self):
        check_subscription(
            {
                "TopicArn": FIFO_TOPIC,
                "Protocol": "sqs",
                "Endpoint": FIFO_QUEUE,
                "RedrivePolicy": {"deadLetterTargetArn": f"{REGION_ACCOUNT}:dlq.fifo"},
            },
            "s",
        )


class TestStandardTopicDeadLetterQueue:
    """A standard topic's subscription redrives to a standard queue.

    https://docs.aws.amazon.com/sns/latest/dg/sns-dead-letter-queues.html: "FIFO topic
    subscriptions use FIFO queues, and standard topic subscriptions use standard queues."
    """

    @pytest.mark.parametrize("endpoint", [QUEUE, "https://hooks.example.com/in"])
    def test_fifo_dlq_is_refused(self, endpoint: str):
        properties = {
            "TopicArn": TOPIC,
            "Protocol": "sqs" if endpoint.startswith("arn:") else "https",
            "Endpoint": endpoint,
            "RedrivePolicy": {"deadLetterTargetArn": f"{REGION_ACCOUNT}:dlq.fifo"},
        }
        error = refused(check_subscription, properties, "Kit/Subscription")
        assert error.code == "InvalidParameter"
        assert "standard queue as DLQ" in error.message
        assert error.resource == "Kit/Subscription"

    def test_standard_dlq_passes(self):
        check_subscription(
            {
                "TopicArn": TOPIC,
                "Protocol": "sqs",
                "Endpoint": QUEUE,
                "RedrivePolicy": json.dumps({"deadLetterTargetArn": f"{REGION_ACCOUNT}:dlq"}),
            },
            "s",
        )


class TestQueueDeadLetterQueue:
    """A queue's dead-letter queue is of its own type."""

    def queues(self, source_fifo: bool, dlq_fifo: bool) -> dict:
        return {
            "Queue": {
                "FifoQueue": source_fifo,
                "RedrivePolicy": {
                    "deadLetterTargetArn": {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]},
                    "maxReceiveCount": 5,
                },
            },
            "DeadLetterQueue": {"FifoQueue": dlq_fifo},
        }

    @pytest.mark.parametrize(("source", "dlq"), [(True, False), (False, True)])
    def test_other_type_is_refused(self, source, dlq):
        error = refused(check_queues, self.queues(source, dlq), {}, "Kit")
        assert error.code == "InvalidParameterValue"
        assert error.resource == "Kit/Queue"
        assert error.message.endswith(
            "for parameter RedrivePolicy is invalid. Reason: Dead-letter queue must be same type"
            " of queue as the source."
        )

    @pytest.mark.parametrize("fifo", [True, False])
    def test_same_type_passes(self, fifo):
        check_queues(self.queues(fifo, fifo), {}, "Kit")

    def test_target_from_a_parameter_or_literal_is_judged_by_its_name(self):
        source = {"RedrivePolicy": {"deadLetterTargetArn": {"Ref": "Dlq"}}}
        with pytest.raises(AwsRuleError, match="Dead-letter queue must be same type"):
            check_queues({"Queue": source}, {"Dlq": f"{REGION_ACCOUNT}:dlq.fifo"}, "")
        check_queues(
            {"Queue": {"RedrivePolicy": {"deadLetterTargetArn": f"{REGION_ACCOUNT}:dlq"}}}, {}, ""
        )


class TestLargeTopic:
    """Above 256 KiB a topic keeps at most 100 subscriptions, all SQS, Firehose or Lambda."""

    def test_email_subscription_is_refused(self):
        error = refused(check_large_topic, 1_048_576, ["sqs", "email"], "AlarmTopic")
        assert error.code == "InvalidParameter"
        assert "it has email subscriptions" in error.message
        assert error.doc == "https://docs.aws.amazon.com/sns/latest/api/API_SetTopicAttributes.html"

    def test_a_hundred_and_one_subscriptions_are_refused(self):
        with pytest.raises(AwsRuleError, match="it has 101 subscriptions"):
            check_large_topic(262_145, ["sqs"] * 101, "Topic")

    def test_a_hundred_sqs_lambda_and_firehose_subscriptions_pass(self):
        check_large_topic(1_048_576, ["sqs"] * 98 + ["lambda", "firehose"], "Topic")

    def test_default_size_takes_any_subscriptions(self):
        check_large_topic(262_144, ["email"] * 200, "Topic")


class TestTopicTracing:
    """Active tracing is only supported on standard topics."""

    def test_a_fifo_topic_with_active_tracing_is_refused(self):
        topics = {"Topic": {"FifoTopic": True, "TracingConfig": "Active"}}
        with pytest.raises(AwsRuleError, match="only supported on standard topics") as caught:
            check_topics(topics, "")
        assert caught.value.resource == "Topic"
        assert caught.value.doc == "https://docs.aws.amazon.com/sns/latest/api/API_CreateTopic.html"

    def test_a_fifo_name_counts_as_fifo(self):
        with pytest.raises(AwsRuleError):
            check_topics({"T": {"TopicName": "hub.fifo", "TracingConfig": "Active"}}, "Kit")

    @pytest.mark.parametrize(
        "properties",
        [
            {"TracingConfig": "Active"},
            {"FifoTopic": "true", "TracingConfig": "PassThrough"},
            {"FifoTopic": True},
        ],
    )
    def test_standard_tracing_and_fifo_without_it_pass(self, properties):
        check_topics({"Topic": properties}, "")


class TestEmulatorMappings:
    """The emulator refuses a mapping Lambda would refuse, however it was built."""

    def test_hand_built_fifo_mapping_with_window_is_refused(self):
        with pytest.raises(AwsRuleError, match="Batching window is not supported for FIFO"):
            MappingSpec(function="c", source_arn=FIFO_QUEUE, maximum_batching_window_seconds=1)

    def test_mapping_from_properties_checks_members_the_spec_drops(self):
        with pytest.raises(AwsRuleError, match="at 'parallelizationFactor'"):
            MappingSpec.from_properties("r", {**STREAM_MAPPING, "ParallelizationFactor": 11})

    def test_hand_built_queue_mapping_with_defaults_passes(self):
        assert MappingSpec(function="c", source_arn=QUEUE).effective_batch_size == 10


PARAMETER_SPECS: dict[str, dict[str, Any]] = {
    "FifoMode": {"Type": "String", "Default": "false", "AllowedValues": ["true", "false"]},
    "MaxMessageBytes": {
        "Type": "Number",
        "Default": 262144,
        "MinValue": 1024,
        "MaxValue": 1048576,
    },
    "SourceStreamArn": {
        "Type": "String",
        "Default": "",
        "AllowedPattern": "(arn:aws:dynamodb:.+)?",
    },
    "ConsumerName": {"Type": "String", "MinLength": 1, "MaxLength": 5},
    "Secret": {
        "Type": "String",
        "Default": "",
        "AllowedPattern": "x*",
        "ConstraintDescription": "only x",
    },
}


class TestStackParameters:
    """CloudFormation refuses a parameter outside its declared constraints, before any resource."""

    @pytest.mark.parametrize(
        ("name", "value", "message"),
        [
            ("FifoMode", "yes", "Parameter 'FifoMode' must be one of AllowedValues"),
            (
                "MaxMessageBytes",
                "10",
                "Parameter 'MaxMessageBytes' must be a number not less than 1024",
            ),
            ("MaxMessageBytes", "2000000", "must be a number not greater than 1048576"),
            ("MaxMessageBytes", "big", "Parameter 'MaxMessageBytes' must be a number"),
            ("MaxMessageBytes", "NaN", "Parameter 'MaxMessageBytes' must be a number"),
            ("MaxMessageBytes", "1_000", "Parameter 'MaxMessageBytes' must be a number"),
            ("MaxMessageBytes", " 5000", "Parameter 'MaxMessageBytes' must be a number"),
            ("SourceStreamArn", "table/orders", "Parameter 'SourceStreamArn' must match pattern"),
            ("ConsumerName", "", "must contain at least 1 characters"),
            ("ConsumerName", "toolong", "must contain at most 5 characters"),
            ("Secret", "y", "Parameter Secret failed to satisfy constraint: only x"),
        ],
    )
    def test_a_value_outside_its_constraint_is_refused(self, name, value, message):
        with pytest.raises(AwsRuleError, match=re.escape(message)) as refused:
            check_parameter_value(name, PARAMETER_SPECS[name], value)
        assert refused.value.code == "ValidationError"
        assert refused.value.resource == f"Parameters/{name}"

    @pytest.mark.parametrize(
        ("name", "value"),
        [
            ("FifoMode", "true"),
            ("MaxMessageBytes", "1048576"),
            ("SourceStreamArn", ""),
            ("ConsumerName", "audit"),
        ],
    )
    def test_a_value_within_its_constraint_passes(self, name, value):
        check_parameter_value(name, PARAMETER_SPECS[name], value)

    def test_an_undeclared_parameter_is_refused_with_cloudformations_text(self):
        with pytest.raises(
            AwsRuleError, match=re.escape("Parameters: [Nope] do not exist in the template")
        ):
            check_parameter_names(PARAMETER_SPECS, {"Nope": "1", "ConsumerName": "a"})

    def test_a_parameter_without_default_must_be_given(self):
        with pytest.raises(
            AwsRuleError, match=re.escape("Parameters: [ConsumerName] must have values")
        ):
            check_parameter_names(PARAMETER_SPECS, {})

    def test_every_default_of_the_shipped_templates_meets_its_own_constraints(self):
        for path in (ROOT / "template.yaml", ROOT / "consumers" / "kit" / "template.yaml"):
            for name, spec in load_template(path)["Parameters"].items():
                if "Default" in spec:
                    check_parameter_value(name, spec, str(spec["Default"]))


class TestEnvironmentSize:
    """A function's environment variables fit 4 KB, measured as one JSON object."""

    @staticmethod
    def variables_of(size: int) -> dict[str, str]:
        # {"V":"..."} is 8 bytes of JSON around the value.
        return {"V": "x" * (size - 8)}

    def test_exactly_4_kb_is_accepted(self):
        variables = self.variables_of(4096)
        assert len(json.dumps(variables, separators=(",", ":"))) == 4096
        check_environment_size(variables, "Kit/ConsumerFunction")

    def test_one_byte_more_is_refused(self):
        error = refused(check_environment_size, self.variables_of(4097), "Kit/ConsumerFunction")
        assert str(error).endswith("String measured: 4097 bytes (Kit/ConsumerFunction)")

    def test_bytes_not_characters_are_counted(self):
        # 2,100 two-byte characters: 2,108 characters of JSON, 4,208 bytes.
        error = refused(check_environment_size, {"V": "é" * 2100}, "Fn")
        assert "4208 bytes" in str(error)


class TestBucketNames:
    """S3's general purpose bucket naming rules (moto checks only the length)."""

    @pytest.mark.parametrize(
        ("name", "rule"),
        [
            ("ab", "3 to 63"),
            ("a" * 64, "3 to 63"),
            ("Fanout-hub-artifacts", "lowercase letters"),
            ("fanout_hub", "lowercase letters"),
            ("-fanout", "begin and end"),
            ("fanout.", "begin and end"),
            ("fanout..hub", "adjacent periods"),
            ("192.168.5.4", "IP address"),
            ("xn--fanout", "must not start"),
            ("sthree-fanout", "must not start"),
            ("amzn-s3-demo-fanout", "must not start"),
            ("fanout-s3alias", "must not end"),
            ("fanout--ol-s3", "must not end"),
            ("fanout.mrap", "must not end"),
            ("fanout--x-s3", "must not end"),
            ("fanout--table-s3", "must not end"),
            ("fanout-an", "must not end"),
            ("192.168.05.4", "IP address"),
            ("999.999.999.999", "IP address"),
        ],
    )
    def test_a_name_s3_refuses_is_refused(self, name, rule):
        error = refused(check_bucket_name, name, "Bucket")
        assert error.code == "InvalidBucketName"
        assert rule in error.message
        assert error.resource == "Bucket"

    @pytest.mark.parametrize("name", ["abc", "a" * 63, "fanout-hub.artifacts-1", "1.2.3.4.5"])
    def test_the_edges_s3_accepts_pass(self, name):
        check_bucket_name(name, "Bucket")

    def test_a_name_built_from_the_stack_name_says_how_long_the_stack_name_may_be(self):
        stack = "fanout-hub-orders-production-eu"  # 31 characters
        name = f"{stack}-artifacts-123456789012-eu-central-1"
        error = refused(check_bucket_name, name, "ArtifactsBucket", stack_name=stack)
        assert "is 67 characters" in error.message
        assert "stack name of at most 27 lowercase letters" in error.message

    def test_no_stack_name_hint_where_a_shorter_name_cannot_mend_it(self):
        error = refused(check_bucket_name, "hub-s3alias", "Bucket", stack_name="hub")
        assert "stack name" not in error.message

    def test_template_buckets_are_judged_through_fn_sub_of_known_values(self):
        buckets = {"ArtifactsBucket": {"BucketName": {"Fn::Sub": "${AWS::StackName}-artifacts"}}}
        context = {"AWS::StackName": "FanoutHub"}
        error = refused(check_buckets, buckets, context, "")
        assert error.resource == "ArtifactsBucket"
        assert "built from the stack name 'FanoutHub'" in error.message
        # a literal name that happens to contain the stack name gets no stack-name hint
        literal = {"B": {"BucketName": "FanoutHub-assets"}}
        assert "stack name" not in refused(check_buckets, literal, context, "").message
        # a name of a form not judged before creation is left to AWS
        check_buckets({"B": {"BucketName": {"Fn::Join": ["", ["X"]]}}, "C": {}}, context, "")
