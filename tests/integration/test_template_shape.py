"""What CloudFormation receives for the settings moto cannot show: read from the translated templates.

moto's CloudFormation drops a topic's ``MaximumMessageSize``, a function's
``LoggingConfig`` and ``AWS::XRay::ResourcePolicy``, and the local deployer applies
subscriptions after the queue policy whatever ``DependsOn`` says; these tests read
the templates as CloudFormation gets them after the SAM transform.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from support.templates import KIT_LAYERS, resources_for

from fanout.deploy.template import load_template

ROOT = Path(__file__).resolve().parents[2]
HUB = ROOT / "template.yaml"
KIT = ROOT / "consumers" / "kit" / "template.yaml"
KIT_PARAMETERS = {
    "TopicArn": "arn:aws:sns:us-east-1:123456789012:hub-Topic",
    "ConsumerName": "orders",
    "Handler": "consumers.audit_log.app.handler",
    **KIT_LAYERS,
}
WEBHOOK = {
    "WebhookUrls": "https://hooks.example.com/fanout",
    "WebhookSecretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:hook-AbCdEf",
}


@pytest.fixture(autouse=True)
def _region(monkeypatch: pytest.MonkeyPatch) -> None:
    # aws-sam-translator reads the region from the environment.
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")


def of_type(resources: dict[str, Any], kind: str) -> dict[str, Any]:
    return {k: r for k, r in resources.items() if r["Type"] == kind}


class TestTopicMessageSize:
    """The topic's MaximumMessageSize and the router's inline limit are one parameter."""

    def test_topic_and_router_take_max_message_bytes(self):
        # GIVEN the hub translated for a 1 MiB limit
        resources = resources_for(HUB, {"MaxMessageBytes": "1048576"})
        # THEN the topic's limit and the router's are the same parameter, so a replaced
        # topic gets it back: https://docs.aws.amazon.com/sns/latest/dg/large-message-payloads.html
        topic = resources["Topic"]["Properties"]
        router = resources["RouterFunction"]["Properties"]["Environment"]["Variables"]
        assert topic["MaximumMessageSize"] == {"Ref": "MaxMessageBytes"}
        assert router["MAX_MESSAGE_BYTES"] == {"Ref": "MaxMessageBytes"}

    def test_parameter_range_is_snss(self):
        # SNS: "any integer value between 1,024 and 1,048,576 bytes".
        spec = load_template(HUB)["Parameters"]["MaxMessageBytes"]
        assert (spec["MinValue"], spec["MaxValue"], spec["Default"]) == (1024, 1048576, 262144)

    def test_no_manual_topic_step_left_in_the_docs(self):
        deploy = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
        assert "set-topic-attributes" not in deploy


class TestRouterReservedConcurrency:
    """Reserved concurrency 0 would stop the router and stall the stream: only empty or >= 1."""

    @pytest.mark.parametrize(
        ("value", "accepted"),
        [
            ("", True),
            ("1", True),
            ("10", True),
            ("0", False),
            ("00", False),
            ("-1", False),
            ("1.5", False),
        ],
    )
    def test_the_parameter_refuses_zero(self, value: str, accepted: bool):
        # CloudFormation: the pattern must match the entire parameter value provided.
        # https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/parameters-section-structure.html
        spec = load_template(HUB)["Parameters"]["RouterReservedConcurrency"]
        assert (re.fullmatch(spec["AllowedPattern"], value) is not None) is accepted


class TestSnsTracing:
    """SNS active tracing has the X-Ray resource policy it needs, for this topic only."""

    def test_sns_may_send_segments_for_the_hub_topic(self):
        resources = resources_for(HUB)
        assert resources["Topic"]["Properties"]["TracingConfig"] == "Active"
        (policy,) = of_type(resources, "AWS::XRay::ResourcePolicy").values()
        text = policy["Properties"]["PolicyDocument"]["Fn::Sub"]
        (statement,) = json.loads(text)["Statement"]
        # https://docs.aws.amazon.com/xray/latest/devguide/xray-services-sns.html
        assert statement["Effect"] == "Allow"
        assert statement["Principal"] == {"Service": "sns.amazonaws.com"}
        assert "xray:PutTraceSegments" in statement["Action"]
        assert statement["Condition"]["ArnLike"] == {"aws:SourceArn": "${Topic}"}
        assert statement["Condition"]["StringEquals"] == {"aws:SourceAccount": "${AWS::AccountId}"}


class TestLogging:
    """Every function logs JSON, filtered by Lambda at the LogLevel parameter's level."""

    @pytest.mark.parametrize(("level", "lambda_level"), [("INFO", "INFO"), ("WARNING", "WARN")])
    def test_hub_and_kit_functions(self, level: str, lambda_level: str):
        hub = resources_for(HUB, {"LogLevel": level})
        kit = resources_for(KIT, {**KIT_PARAMETERS, "LogLevel": level})
        functions = {
            **of_type(hub, "AWS::Lambda::Function"),
            **of_type(kit, "AWS::Lambda::Function"),
        }
        assert set(functions) == {"RouterFunction", "ConsumerFunction"}
        for function in functions.values():
            logging = function["Properties"]["LoggingConfig"]
            assert logging["LogFormat"] == "JSON"
            assert logging["ApplicationLogLevel"] == lambda_level


class TestKitOrdering:
    """The subscription exists only once the queue policy admits the topic."""

    def test_subscription_depends_on_the_queue_policy(self):
        resources = resources_for(KIT, KIT_PARAMETERS)
        depends = resources["Subscription"].get("DependsOn", [])
        assert "QueuePolicy" in ([depends] if isinstance(depends, str) else depends)


class TestWebhookSecret:
    """The webhook's policy grants kms:Decrypt only for a customer managed key named by a parameter."""

    def policy(self, **parameters: str) -> list[dict[str, Any]]:
        resources = resources_for(HUB, {**WEBHOOK, **parameters})
        document = resources["WebhookPolicy"]["Properties"]["PolicyDocument"]
        return [s for s in document["Statement"] if s != {"Ref": "AWS::NoValue"}]

    def test_aws_managed_key_needs_no_kms_grant(self):
        statements = self.policy()
        assert [s["Resource"] for s in statements if s["Sid"] == "ReadWebhookSecret"] == [
            {"Ref": "WebhookSecretArn"}
        ]
        assert not [s for s in statements if "kms:" in json.dumps(s["Action"])]

    def test_customer_managed_key_is_granted_through_secrets_manager_only(self):
        statements = self.policy(
            WebhookSecretKmsKeyArn="arn:aws:kms:us-east-1:123456789012:key/1234"
        )
        (grant,) = [s for s in statements if s["Sid"] == "DecryptWebhookSecret"]
        assert grant["Action"] == "kms:Decrypt"
        assert grant["Resource"] == {"Ref": "WebhookSecretKmsKeyArn"}
        assert re.search(r"secretsmanager\.", json.dumps(grant["Condition"]))

    def test_only_the_webhook_consumer_gets_the_policy(self):
        resources = resources_for(HUB, WEBHOOK)
        attached = {
            name: resource["Properties"]["Parameters"].get("ManagedPolicyArns")
            for name, resource in resources.items()
            if resource["Type"] == "AWS::CloudFormation::Stack"
        }
        assert attached["WebhookConsumer"] == {"Ref": "WebhookPolicy"}
        assert {"Ref": "WebhookPolicy"} not in [
            attached["AuditLogConsumer"],
            attached["ProjectionConsumer"],
        ]
