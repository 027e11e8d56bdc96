"""template.yaml, translated and created in moto through ``fanout.stack``, has the promised shape.

The stack is created once per module (moto decorator mode); each test reads the
live resources: queues, subscriptions, mappings, functions, alarms.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from fanout import events, stack

ROOT = Path(__file__).resolve().parents[2]
CONSUMERS = ("AuditLogConsumer", "ProjectionConsumer", "WebhookConsumer")
WEBHOOK = {
    "WebhookUrls": "https://hooks.example.com/fanout",
    "WebhookSecret": "0123456789abcdef0123",
}


@pytest.fixture(scope="module")
def deployed():
    with mock_aws():
        yield stack.deploy(stack_name="hub", parameters=WEBHOOK)


def drain(url: str) -> list[dict]:
    sqs = boto3.client("sqs")
    messages: list[dict] = []
    while batch := sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    ).get("Messages", []):
        messages += batch
        sqs.delete_message_batch(
            QueueUrl=url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)
            ],
        )
    return messages


class TestConsumerQueues:
    """Every consumer has its own queue that redrives to its own dead-letter queue."""

    @pytest.mark.parametrize("consumer", CONSUMERS)
    def test_queue_redrives_to_its_own_dlq(self, deployed, consumer):
        kit = deployed.nested[consumer]
        queue, dlq = kit.queues["Queue"], kit.queues["DeadLetterQueue"]
        assert queue.redrive_policy == stack.RedrivePolicy(dlq.arn, 5)
        assert dlq.redrive_policy is None
        assert dlq.attributes["MessageRetentionPeriod"] == str(14 * 24 * 3600)
        assert queue.attributes["SqsManagedSseEnabled"] == "true"
        assert dlq.attributes["SqsManagedSseEnabled"] == "true"

    def test_no_two_consumers_share_a_dlq(self, deployed):
        dlqs = {
            deployed.nested[c].queues["Queue"].redrive_policy.dead_letter_arn for c in CONSUMERS
        }
        assert len(dlqs) == len(CONSUMERS)

    @pytest.mark.parametrize("consumer", CONSUMERS)
    def test_visibility_timeout_is_six_times_the_function_timeout(self, deployed, consumer):
        kit = deployed.nested[consumer]
        (mapping,) = kit.event_source_mappings
        function = deployed.all_functions()[mapping.function_path]
        queue = deployed.queue_by_arn(mapping.source_arn)
        assert queue.path == f"{consumer}/Queue"
        assert queue.visibility_timeout_seconds >= 6 * function.timeout_seconds

    @pytest.mark.parametrize("consumer", CONSUMERS)
    def test_consumer_mapping_reports_partial_failures(self, deployed, consumer):
        (mapping,) = deployed.nested[consumer].event_source_mappings
        assert mapping.properties["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        assert mapping.properties["ScalingConfig"]["MaximumConcurrency"] >= 2
        assert mapping.properties["BatchSize"] >= 1

    @pytest.mark.parametrize("consumer", CONSUMERS)
    def test_consumer_environment_names_its_own_resources(self, deployed, consumer):
        kit = deployed.nested[consumer]
        env = kit.functions["ConsumerFunction"].environment
        assert env["DLQ_URL"] == kit.queues["DeadLetterQueue"].url
        assert env["IDEMPOTENCY_TABLE"] == deployed.outputs["IdempotencyTableName"]
        assert env["PAYLOAD_BUCKET"] == deployed.outputs["PayloadBucketName"]
        assert env["CONSUMER_NAME"]
        assert env["LOG_LEVEL"] == "INFO"

    def test_per_consumer_settings(self, deployed):
        functions = deployed.all_functions()
        audit = functions["AuditLogConsumer/ConsumerFunction"].environment
        projection = functions["ProjectionConsumer/ConsumerFunction"].environment
        webhook = functions["WebhookConsumer/ConsumerFunction"].environment
        assert audit["AUDIT_BUCKET"] == deployed.outputs["AuditBucketName"]
        assert projection["PROJECTION_TABLE"] == deployed.outputs["ProjectionTableName"]
        assert webhook["WEBHOOK_URLS"] == WEBHOOK["WebhookUrls"]
        assert webhook["WEBHOOK_SECRET"] == WEBHOOK["WebhookSecret"]


class TestTables:
    """The shared idempotency table and the projection table have the contract's keys."""

    def test_idempotency_table(self, deployed):
        dynamodb = boto3.client("dynamodb")
        name = deployed.outputs["IdempotencyTableName"]
        table = dynamodb.describe_table(TableName=name)["Table"]
        assert table["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
        ttl = dynamodb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"}

    def test_projection_table(self, deployed):
        table = boto3.client("dynamodb").describe_table(
            TableName=deployed.outputs["ProjectionTableName"]
        )
        assert table["Table"]["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]


class TestSubscriptions:
    """Each queue is subscribed with raw delivery and its filter policy."""

    def test_filter_policies(self, deployed):
        policies = {
            path.split("/")[0]: s.filter_policy for path, s in deployed.all_subscriptions().items()
        }
        assert policies == {
            "AuditLogConsumer": None,
            "ProjectionConsumer": {"operation": ["created", "updated", "deleted", "expired"]},
            "WebhookConsumer": {"operation": ["created", "deleted"]},
        }

    def test_raw_delivery_to_own_queue(self, deployed):
        sns = boto3.client("sns")
        for path, subscription in deployed.all_subscriptions().items():
            live = sns.get_subscription_attributes(SubscriptionArn=subscription.arn)["Attributes"]
            consumer = path.split("/")[0]
            assert live["RawMessageDelivery"] == "true"
            assert live["TopicArn"] == deployed.outputs["TopicArn"]
            assert live["Endpoint"] == deployed.nested[consumer].queues["Queue"].arn
            redrive = json.loads(live["RedrivePolicy"])
            assert (
                redrive["deadLetterTargetArn"]
                == deployed.nested[consumer].queues["DeadLetterQueue"].arn
            )

    def test_queue_policy_admits_only_the_topic(self, deployed):
        sqs = boto3.client("sqs")
        for consumer in CONSUMERS:
            url = deployed.nested[consumer].queues["Queue"].url
            policy = json.loads(
                sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"])["Attributes"][
                    "Policy"
                ]
            )
            (allow,) = [s for s in policy["Statement"] if s["Effect"] == "Allow"]
            assert allow["Principal"] == {"Service": "sns.amazonaws.com"}
            assert allow["Condition"] == {
                "ArnEquals": {"aws:SourceArn": deployed.outputs["TopicArn"]}
            }


class TestFanout:
    """An envelope published to the topic reaches exactly the queues whose filter admits it."""

    @pytest.mark.parametrize(
        ("operation", "expected"),
        [
            ("created", {"AuditLogConsumer", "ProjectionConsumer", "WebhookConsumer"}),
            ("updated", {"AuditLogConsumer", "ProjectionConsumer"}),
            ("deleted", {"AuditLogConsumer", "ProjectionConsumer", "WebhookConsumer"}),
            ("expired", {"AuditLogConsumer", "ProjectionConsumer"}),
        ],
    )
    def test_publish_reaches_matching_queues(self, deployed, operation, expected):
        # GIVEN a real envelope of that operation, as the router publishes it
        (outbound,) = [
            o for o in events.envelopes() if o.attributes["operation"]["StringValue"] == operation
        ]
        # WHEN it is published to the hub topic
        boto3.client("sns").publish(
            TopicArn=deployed.outputs["TopicArn"],
            Message=outbound.body,
            MessageAttributes=outbound.attributes,
        )
        # THEN exactly the subscribed queues hold it, as the raw envelope
        reached = set()
        for consumer in CONSUMERS:
            messages = drain(deployed.nested[consumer].queues["Queue"].url)
            if messages:
                reached.add(consumer)
                assert [m["Body"] for m in messages] == [outbound.body]
                assert messages[0]["MessageAttributes"]["type"]["StringValue"] == outbound.type
        assert reached == expected


class TestRouter:
    """The router gets the contract's environment and a bounded, bisecting stream mapping."""

    def test_environment(self, deployed):
        router = deployed.functions["RouterFunction"]
        assert router.handler == "router.app.handler"
        assert router.environment == {
            "TOPIC_ARN": deployed.outputs["TopicArn"],
            "ROUTER_DLQ_URL": deployed.outputs["RouterDeadLetterQueueUrl"],
            "PAYLOAD_BUCKET": deployed.outputs["PayloadBucketName"],
            "MAX_MESSAGE_BYTES": "262144",
            "LOG_LEVEL": "INFO",
        }

    def test_stream_mapping(self, deployed):
        (mapping,) = deployed.event_source_mappings
        props = mapping.properties
        assert mapping.function_path == "RouterFunction"
        assert mapping.source_arn == deployed.outputs["SourceStreamArn"]
        assert props["BisectBatchOnFunctionError"] is True
        assert 0 < props["MaximumRetryAttempts"] <= 10
        assert 60 <= props["MaximumRecordAgeInSeconds"] <= 6 * 3600
        assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        bucket = deployed.outputs["FailedBatchBucketName"]
        assert props["DestinationConfig"] == {
            "OnFailure": {"Destination": f"arn:aws:s3:::{bucket}"}
        }

    def test_demo_table_streams_both_images(self, deployed):
        table = boto3.client("dynamodb").describe_table(
            TableName=deployed.outputs["DemoTableName"]
        )["Table"]
        assert table["StreamSpecification"] == {
            "StreamEnabled": True,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        }

    def test_claim_check_bucket_is_private_and_expires(self, deployed):
        s3 = boto3.client("s3")
        bucket = deployed.outputs["PayloadBucketName"]
        block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
        assert all(block.values())
        rules = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
        assert rules[0]["Expiration"]["Days"] == 14
        assert s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]


class TestAlarms:
    """Every DLQ and every function has an alarm whose description links an existing runbook."""

    def test_every_dlq_has_a_depth_alarm(self, deployed):
        watched = {
            a["Dimensions"][0]["Value"]
            for a in deployed.all_alarms().values()
            if a["MetricName"] == "ApproximateNumberOfMessagesVisible"
        }
        dlqs = {
            q.name for q in deployed.all_queues().values() if q.path.endswith("DeadLetterQueue")
        }
        assert dlqs == watched
        assert len(dlqs) == 4

    def test_router_iterator_age_and_errors_alarms(self, deployed):
        metrics = {
            (a["Namespace"], a["MetricName"], a["Dimensions"][0]["Value"])
            for a in deployed.all_alarms().values()
        }
        for function in deployed.all_functions().values():
            assert ("AWS/Lambda", "Errors", function.name) in metrics
        router = deployed.functions["RouterFunction"].name
        assert ("AWS/Lambda", "IteratorAge", router) in metrics

    def test_descriptions_link_runbook_sections(self, deployed):
        runbooks = (ROOT / "docs" / "runbooks.md").read_text(encoding="utf-8")
        anchors = set(re.findall(r'<a id="([a-z0-9-]+)"></a>', runbooks))
        for name, alarm in deployed.all_alarms().items():
            links = re.findall(r"docs/runbooks\.md#([a-z0-9-]+)", alarm["AlarmDescription"])
            assert links, name
            assert set(links) <= anchors, name
            assert alarm["AlarmActions"] == [deployed.outputs["AlarmTopicArn"]]


class TestOutputs:
    """Outputs name the topic, every queue and DLQ, and the buckets."""

    def test_outputs(self, deployed):
        for name in (
            "TopicArn",
            "PayloadBucketName",
            "AuditBucketName",
            "RouterDeadLetterQueueUrl",
        ):
            assert deployed.outputs[name]
        for prefix in ("AuditLog", "Projection", "Webhook"):
            kit = deployed.nested[f"{prefix}Consumer"]
            assert deployed.outputs[f"{prefix}QueueUrl"] == kit.queues["Queue"].url
            assert (
                deployed.outputs[f"{prefix}DeadLetterQueueUrl"] == kit.queues["DeadLetterQueue"].url
            )


class TestParameters:
    """Parameters switch parts of the hub on and off as documented."""

    def test_webhook_consumer_is_left_out_without_urls(self):
        with mock_aws():
            hub = stack.deploy(stack_name="plain")
        assert set(hub.nested) == {"AuditLogConsumer", "ProjectionConsumer"}
        assert "WebhookQueueUrl" not in hub.outputs

    def test_webhook_urls_need_a_secret(self):
        with mock_aws(), pytest.raises(stack.StackError, match="WebhookSecret is required"):
            stack.deploy(
                stack_name="nosecret", parameters={"WebhookUrls": "https://hooks.example.com/x"}
            )

    def test_existing_stream_instead_of_demo_table(self):
        with mock_aws():
            table = boto3.client("dynamodb").create_table(
                TableName="orders",
                KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
                StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
            )["TableDescription"]
            hub = stack.deploy(
                stack_name="existing", parameters={"SourceStreamArn": table["LatestStreamArn"]}
            )
        assert "DemoTable" not in hub.physical_ids
        (mapping,) = hub.event_source_mappings
        assert mapping.source_arn == table["LatestStreamArn"]


class TestEndpoint:
    """The same deploy works against a moto server endpoint (as it would against LocalStack)."""

    def test_deploy_to_a_server(self):
        from moto.server import ThreadedMotoServer

        server = ThreadedMotoServer(port=0, verbose=False)
        server.start()
        try:
            host, port = server.get_host_and_port()
            endpoint = f"http://{host}:{port}"
            hub = stack.deploy(stack_name="served", endpoint_url=endpoint)
            sqs = boto3.client("sqs", endpoint_url=endpoint)
            urls = sqs.list_queues(QueueNamePrefix="served-")["QueueUrls"]
            assert len(urls) == len(hub.all_queues()) == 5
            assert {u.rsplit("/", 1)[-1] for u in urls} == {
                q.name for q in hub.all_queues().values()
            }
        finally:
            server.stop()
