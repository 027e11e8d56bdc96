"""template.yaml, translated and created in moto through ``fanout.deploy``, has the promised shape.

The stack is created once per module (moto decorator mode); each test reads the
live resources: queues, subscriptions, mappings, functions, alarms.
"""

from __future__ import annotations

import ast
import json
import re
import tomllib
from pathlib import Path

import boto3
import pytest
from moto import mock_aws
from support.queues import drain as drain_queue

from consumers.audit_log.archive import AuditSettings
from consumers.projection.view import ProjectionSettings
from consumers.runtime import __version__ as runtime_version
from consumers.webhook.forwarder import WebhookEnvironment
from fanout import events
from fanout.deploy import deployer
from fanout.deploy.exceptions import StackError
from fanout.deploy.models import RedrivePolicy
from fanout.deploy.template import load_template
from router.observability import METRICS_NAMESPACE

ROOT = Path(__file__).resolve().parents[2]
CONSUMERS = ("AuditLogConsumer", "ProjectionConsumer", "WebhookConsumer")
WEBHOOK = {
    "WebhookUrls": "https://hooks.example.com/fanout",
    "WebhookSecretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:hub/webhook-AbCdEf",
    "WebhookAllowedNetworks": "10.20.0.0/16",
}
QUEUE_RETENTION_SECONDS = {"Queue": 4 * 24 * 3600, "DeadLetterQueue": 14 * 24 * 3600}


@pytest.fixture(scope="module")
def deployed():
    with mock_aws():
        yield deployer.deploy(stack_name="hub", parameters=WEBHOOK)


def drain(url: str) -> list[dict]:
    return drain_queue(boto3.client("sqs"), url)


class TestConsumerQueues:
    """Every consumer has its own queue that redrives to its own dead-letter queue."""

    @pytest.mark.parametrize("consumer", CONSUMERS)
    def test_queue_redrives_to_its_own_dlq(self, deployed, consumer):
        kit = deployed.nested[consumer]
        queue, dlq = kit.queues["Queue"], kit.queues["DeadLetterQueue"]
        assert queue.redrive_policy == RedrivePolicy(dlq.arn, 5)
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
        # Each consumer's own settings travel in ConsumerConfig and read as its variables.
        functions = deployed.all_functions()
        audit = functions["AuditLogConsumer/ConsumerFunction"].environment
        projection = functions["ProjectionConsumer/ConsumerFunction"].environment
        webhook = functions["WebhookConsumer/ConsumerFunction"].environment
        assert AuditSettings.from_env(audit).bucket == deployed.outputs["AuditBucketName"]
        assert (
            ProjectionSettings.from_env(projection).table == deployed.outputs["ProjectionTableName"]
        )
        hook = WebhookEnvironment.from_env(webhook)
        assert hook.urls == (WEBHOOK["WebhookUrls"],)
        assert hook.secret_arn == WEBHOOK["WebhookSecretArn"]
        assert [str(n) for n in hook.allowed_networks] == ["10.20.0.0/16"]

    def test_the_webhook_secret_is_never_an_environment_value(self, deployed):
        # Only the secret's ARN reaches the function; the key is read at cold start.
        for function in deployed.all_functions().values():
            assert "WEBHOOK_SECRET" not in function.environment

    def test_only_the_webhook_role_reads_only_its_secret(self, deployed):
        iam = boto3.client("iam")
        readers = {}
        for consumer in CONSUMERS:
            role = deployed.nested[consumer].physical_ids["FunctionRole"]
            documents = [
                iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
                for name in iam.list_role_policies(RoleName=role)["PolicyNames"]
            ]
            for attached in iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]:
                policy = iam.get_policy(PolicyArn=attached["PolicyArn"])["Policy"]
                documents.append(
                    iam.get_policy_version(
                        PolicyArn=attached["PolicyArn"], VersionId=policy["DefaultVersionId"]
                    )["PolicyVersion"]["Document"]
                )
            # moto's CloudFormation keeps an inline policy given as a mapping as its Python repr.
            documents = [ast.literal_eval(d) if isinstance(d, str) else d for d in documents]
            readers[consumer] = [
                s["Resource"]
                for document in documents
                for s in document["Statement"]
                if s and "secretsmanager:GetSecretValue" in json.dumps(s["Action"])
            ]
        assert readers == {
            "AuditLogConsumer": [],
            "ProjectionConsumer": [],
            "WebhookConsumer": [WEBHOOK["WebhookSecretArn"]],
        }

    @pytest.mark.parametrize("consumer", CONSUMERS)
    def test_consumer_mapping_publishes_event_count_metrics(self, deployed, consumer):
        (mapping,) = deployed.nested[consumer].event_source_mappings
        assert mapping.properties["MetricsConfig"] == {"Metrics": ["EventCount"]}


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
            "ProjectionConsumer": {
                "operation": ["created", "updated", "deleted", "expired", "snapshot"]
            },
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
            # The default mode; CONTRACT_SCHEMAS is set only when ContractSchemas is.
            "CONTRACT_MODE": "observe",
        }

    def test_stream_mapping(self, deployed):
        (mapping,) = deployed.event_source_mappings
        props = mapping.properties
        assert mapping.function_path == "RouterFunction"
        assert mapping.source_arn == deployed.outputs["SourceStreamArn"]
        assert props["BisectBatchOnFunctionError"] is True
        assert 0 < props["MaximumRetryAttempts"] <= 10
        assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        assert props["MetricsConfig"] == {"Metrics": ["EventCount"]}
        bucket = deployed.outputs["FailedBatchBucketName"]
        assert props["DestinationConfig"] == {
            "OnFailure": {"Destination": f"arn:aws:s3:::{bucket}"}
        }

    def test_a_backlog_is_never_discarded_by_age(self, deployed):
        # Poison is bounded by MaximumRetryAttempts and bisection; a healthy backlog (throttling,
        # an SNS quota, a first deploy on a busy table) must wait, not go to the failed-batch
        # bucket. -1 is Lambda's "no age limit".
        # https://docs.aws.amazon.com/lambda/latest/api/API_CreateEventSourceMapping.html
        (mapping,) = deployed.event_source_mappings
        assert mapping.properties["MaximumRecordAgeInSeconds"] == -1
        assert mapping.properties["StartingPosition"] == "TRIM_HORIZON"

    def test_no_reserved_concurrency_by_default(self, deployed):
        router = deployed.functions["RouterFunction"].name
        assert "ReservedConcurrentExecutions" not in boto3.client(
            "lambda"
        ).get_function_concurrency(FunctionName=router)

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
            if a.get("MetricName") == "ApproximateNumberOfMessagesVisible"
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
            if "MetricName" in a
        }
        for function in deployed.all_functions().values():
            assert ("AWS/Lambda", "Errors", function.name) in metrics
            assert ("AWS/Lambda", "Throttles", function.name) in metrics
        router = deployed.functions["RouterFunction"].name
        assert ("AWS/Lambda", "IteratorAge", router) in metrics
        # A discarded batch the mapping could not write to the failed-batch bucket is lost.
        assert ("AWS/Lambda", "DestinationDeliveryFailures", router) in metrics

    def test_every_queue_has_an_age_alarm_that_fires_before_retention(self, deployed):
        # GIVEN every consumer queue and DLQ, and the router DLQ
        ages = {
            a["Dimensions"][0]["Value"]: a["Threshold"]
            for a in deployed.all_alarms().values()
            if a.get("MetricName") == "ApproximateAgeOfOldestMessage"
        }
        queues = deployed.all_queues().values()
        assert {q.name for q in queues} == set(ages)
        for queue in queues:
            retention = int(queue.attributes["MessageRetentionPeriod"])
            kind = "DeadLetterQueue" if queue.path.endswith("DeadLetterQueue") else "Queue"
            assert retention == QUEUE_RETENTION_SECONDS[kind]
            # THEN each alarm leaves at least half the retention to act; a standard DLQ keeps
            # the original enqueue time, so its messages may expire after 14 - 4 = 10 days there.
            # https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/setting-up-dead-letter-queue-retention.html
            assert ages[queue.name] <= retention / 2
            if kind == "DeadLetterQueue":
                assert ages[queue.name] < (retention - QUEUE_RETENTION_SECONDS["Queue"])

    def test_topic_delivery_and_redrive_failures_alarm(self, deployed):
        topic = deployed.outputs["TopicArn"].rsplit(":", 1)[-1]
        watched = {
            a["MetricName"]
            for a in deployed.all_alarms().values()
            if a.get("Namespace") == "AWS/SNS"
            and a["Dimensions"] == [{"Name": "TopicName", "Value": topic}]
        }
        assert watched == {
            "NumberOfNotificationsFailed",
            "NumberOfNotificationsFailedToRedriveToDlq",
        }

    def test_contract_violations_of_every_entity_alarm(self, deployed):
        # GIVEN the router's contract metric, one series per entity (router/observability.py)
        (alarm,) = (
            a for a in deployed.all_alarms().values() if "ContractViolations" in json.dumps(a)
        )
        (query,) = alarm["Metrics"]
        # THEN one query sums every entity of this hub's router, so a new contracted entity
        # is watched too and another hub's violations are not
        expression = " ".join(query["Expression"].split())
        router = deployed.functions["RouterFunction"].name
        source = f'SCHEMA("{METRICS_NAMESPACE}", Entity, FunctionName)'
        assert expression == " ".join(
            ("SELECT SUM(ContractViolations) FROM", source, f"WHERE FunctionName = '{router}'")
        )
        assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (0, "GreaterThanThreshold")
        assert alarm["TreatMissingData"] == "notBreaching"  # a batch without one writes nothing


class TestDashboards:
    """The hub and every consumer have a CloudWatch dashboard of their own resources."""

    def test_hub_dashboard_shows_router_topic_and_router_dlq(self, deployed):
        body = json.loads(
            boto3.client("cloudwatch").get_dashboard(
                DashboardName=deployed.outputs["HubDashboardName"]
            )["DashboardBody"]
        )
        shown = json.dumps(body)
        assert deployed.functions["RouterFunction"].name in shown
        assert deployed.outputs["TopicArn"].rsplit(":", 1)[-1] in shown
        assert deployed.queues["RouterDeadLetterQueue"].name in shown

    @pytest.mark.parametrize("consumer", CONSUMERS)
    def test_each_consumer_has_its_own_dashboard(self, deployed, consumer):
        kit = deployed.nested[consumer]
        shown = boto3.client("cloudwatch").get_dashboard(
            DashboardName=kit.outputs["DashboardName"]
        )["DashboardBody"]
        assert json.loads(shown)["widgets"]
        assert kit.functions["ConsumerFunction"].name in shown
        assert kit.queues["Queue"].name in shown
        assert kit.queues["DeadLetterQueue"].name in shown
        others = [c for c in CONSUMERS if c != consumer]
        for other in others:
            assert deployed.nested[other].queues["Queue"].name not in shown

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
            hub = deployer.deploy(stack_name="plain")
        assert set(hub.nested) == {"AuditLogConsumer", "ProjectionConsumer"}
        assert "WebhookQueueUrl" not in hub.outputs

    def test_webhook_urls_need_a_secret(self):
        with mock_aws(), pytest.raises(StackError, match="WebhookSecretArn is required"):
            deployer.deploy(
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
            hub = deployer.deploy(
                stack_name="existing", parameters={"SourceStreamArn": table["LatestStreamArn"]}
            )
        assert "DemoTable" not in hub.physical_ids
        (mapping,) = hub.event_source_mappings
        assert mapping.source_arn == table["LatestStreamArn"]

    def test_starting_position_and_record_age_are_parameters(self):
        with mock_aws():
            hub = deployer.deploy(
                stack_name="latest",
                parameters={"StartingPosition": "LATEST", "MaximumRecordAgeInSeconds": "86400"},
            )
        (mapping,) = hub.event_source_mappings
        assert mapping.properties["StartingPosition"] == "LATEST"
        assert mapping.properties["MaximumRecordAgeInSeconds"] == 86400

    def test_router_reserved_concurrency_when_asked(self):
        with mock_aws():
            hub = deployer.deploy(
                stack_name="reserved", parameters={"RouterReservedConcurrency": "10"}
            )
            router = hub.functions["RouterFunction"].name
            reserved = boto3.client("lambda").get_function_concurrency(FunctionName=router)
        assert reserved["ReservedConcurrentExecutions"] == 10


def existing_stream(table: str) -> str:
    """A table with a NEW_AND_OLD_IMAGES stream, as production has one; its stream ARN."""
    return boto3.client("dynamodb").create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )["TableDescription"]["LatestStreamArn"]


def prod_overrides() -> dict[str, str]:
    """samconfig.toml's prod parameter overrides, as `sam deploy --config-env prod` passes them."""
    config = tomllib.loads((ROOT / "samconfig.toml").read_text(encoding="utf-8"))
    text = config["prod"]["deploy"]["parameters"]["parameter_overrides"]
    return dict(pair.split("=", 1) for pair in text.split())


class TestProduction:
    """Stage=prod reads an existing stream, has an alarm destination, never a demo table."""

    def test_prod_refuses_to_create_the_demo_table(self):
        with mock_aws(), pytest.raises(StackError, match="needs SourceStreamArn"):
            deployer.deploy(
                stack_name="prod",
                parameters={"Stage": "prod", "AlarmEmail": "oncall@example.com"},
            )

    def test_prod_refuses_no_alarm_destination(self):
        with mock_aws(), pytest.raises(StackError, match="needs AlarmTopicArn or AlarmEmail"):
            deployer.deploy(
                stack_name="prod",
                parameters={"Stage": "prod", "SourceStreamArn": existing_stream("prod-no-alarms")},
            )

    def test_samconfig_prod_placeholders_cannot_deploy(self):
        # Until the operator fills them in, CloudFormation refuses the placeholders.
        parameters = load_template(ROOT / "template.yaml")["Parameters"]
        overrides = prod_overrides()
        for name in ("SourceStreamArn", "AlarmTopicArn"):
            assert overrides[name].startswith("FILL-IN")
            assert re.fullmatch(parameters[name]["AllowedPattern"], overrides[name]) is None

    def test_samconfig_prod_deploys_once_filled_in(self):
        with mock_aws():
            alarms = boto3.client("sns").create_topic(Name="oncall")["TopicArn"]
            overrides = {
                **prod_overrides(),
                "SourceStreamArn": existing_stream("prod-orders"),
                "AlarmTopicArn": alarms,
            }
            hub = deployer.deploy(stack_name="fanout-hub-prod", parameters=overrides)
        assert "DemoTable" not in hub.physical_ids
        assert "AlarmTopic" not in hub.physical_ids
        (mapping,) = hub.event_source_mappings
        assert mapping.source_arn == overrides["SourceStreamArn"]
        assert mapping.properties["StartingPosition"] == "LATEST"
        assert {a["AlarmActions"][0] for a in hub.all_alarms().values()} == {alarms}


class TestConsumerRuntimeLayer:
    """The hub publishes the consumer runtime layer, its version in the Description."""

    def test_the_layer_is_published_and_its_arn_is_an_output(self, deployed):
        # GIVEN the deployed hub WHEN its layer output is looked up
        arn = deployed.outputs["ConsumerRuntimeLayerArn"]
        name, version = arn.rsplit(":", 2)[-2:]
        layer = boto3.client("lambda").get_layer_version(LayerName=name, VersionNumber=int(version))
        # THEN it is a version of the stack's layer, for the functions' runtime
        assert re.fullmatch(r"arn:aws:lambda:us-east-1:\d{12}:layer:hub-consumer-runtime:\d+", arn)
        assert layer["CompatibleRuntimes"] == [deployed.parameters["Runtime"]]
        assert layer["Description"].startswith(f"fanout-hub consumer runtime {runtime_version} ")

    def test_the_template_names_the_runtime_version(self):
        # One fact: consumers/runtime/__init__.py, and the template's ConsumerRuntime
        # mapping that the layer's Description reads.
        template = load_template(ROOT / "template.yaml")
        version = template["Mappings"]["ConsumerRuntime"]["Release"]["Version"]
        description = template["Resources"]["ConsumerRuntimeLayer"]["Properties"]["Description"]
        assert version == runtime_version
        assert description["Fn::Sub"][1] == {
            "Version": {"Fn::FindInMap": ["ConsumerRuntime", "Release", "Version"]}
        }


class TestEndpoint:
    """The same deploy works against a moto server endpoint (as it would against LocalStack)."""

    def test_deploy_to_a_server(self):
        from moto.server import ThreadedMotoServer

        server = ThreadedMotoServer(port=0, verbose=False)
        server.start()
        try:
            host, port = server.get_host_and_port()
            endpoint = f"http://{host}:{port}"
            hub = deployer.deploy(stack_name="served", endpoint_url=endpoint)
            sqs = boto3.client("sqs", endpoint_url=endpoint)
            urls = sqs.list_queues(QueueNamePrefix="served-")["QueueUrls"]
            assert len(urls) == len(hub.all_queues()) == 5
            assert {u.rsplit("/", 1)[-1] for u in urls} == {
                q.name for q in hub.all_queues().values()
            }
        finally:
            server.stop()
