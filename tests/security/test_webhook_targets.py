"""Webhook targets that are not HTTPS are refused: by the template at deploy, by the function at cold start.

Signed event bodies must never travel in clear text or to a non-HTTP scheme
(``file:``, ``ftp:``), so a bad ``WEBHOOK_URLS`` entry fails the function's
first invocation with a ``ConfigurationError`` naming the variable; the batch
is not acknowledged, so SQS keeps every message until the setting is fixed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from support.builders import FakeContext, load_event
from support.secrets import UNREAD_SECRET_ARN, a_stored_secret

from consumers.runtime.errors import ConfigurationError
from consumers.webhook.forwarder import WebhookEnvironment
from fanout.stack import load_template

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"
SECRET = "a-webhook-secret-of-some-length"

NOT_HTTPS = [
    "http://partner.example/hooks",
    "ftp://partner.example/hooks",
    "file:///etc/passwd",
    "javascript:alert(1)",
    "https://",
    "https:///no-host",
    "//partner.example/hooks",
    "partner.example/hooks",
    "https://ok.example/hooks,http://partner.example/hooks",
]


class TestSettings:
    """``WebhookEnvironment`` accepts absolute https URLs only."""

    @pytest.mark.parametrize("urls", NOT_HTTPS)
    def test_refuses(self, urls: str):
        with pytest.raises(ConfigurationError, match="WEBHOOK_URLS"):
            WebhookEnvironment.from_env(
                {"WEBHOOK_URLS": urls, "WEBHOOK_SECRET_ARN": UNREAD_SECRET_ARN}
            )

    def test_accepts_https(self):
        settings = WebhookEnvironment.from_env(
            {
                "WEBHOOK_URLS": "https://a.example/h, https://b.example:8443/h",
                "WEBHOOK_SECRET_ARN": UNREAD_SECRET_ARN,
            }
        )
        assert settings.urls == ("https://a.example/h", "https://b.example:8443/h")


class TestTemplate:
    """The template's WebhookUrls parameter refuses the same URLs before anything deploys."""

    def pattern(self) -> str:
        return str(load_template(TEMPLATE)["Parameters"]["WebhookUrls"]["AllowedPattern"])

    @pytest.mark.parametrize(
        "urls", [u for u in NOT_HTTPS if not u.startswith("https://")] + ["https://a b"]
    )
    def test_refuses(self, urls: str):
        # CloudFormation matches AllowedPattern against the whole value.
        assert re.fullmatch(self.pattern(), urls) is None

    def test_accepts_https_lists(self):
        assert re.fullmatch(self.pattern(), "https://a.example/h,https://b.example/h")


@pytest.fixture
def webhook(aws: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    sqs = boto3.client("sqs")
    dlq_url = sqs.create_queue(QueueName="webhook-dlq")["QueueUrl"]
    boto3.client("s3").create_bucket(Bucket="fanout-hub-payloads")
    boto3.client("dynamodb").create_table(
        TableName="fanout-hub-idempotency",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    for name, value in {
        "CONSUMER_NAME": "webhook",
        "IDEMPOTENCY_TABLE": "fanout-hub-idempotency",
        "PAYLOAD_BUCKET": "fanout-hub-payloads",
        "DLQ_URL": dlq_url,
        "WEBHOOK_SECRET_ARN": a_stored_secret(SECRET),
    }.items():
        monkeypatch.setenv(name, value)
    from consumers.webhook import app

    app.handler.reset()
    yield app, sqs, dlq_url
    app.handler.reset()


class TestColdStart:
    """A function configured with a non-https target refuses to run and acknowledges nothing."""

    @pytest.mark.parametrize("urls", NOT_HTTPS[:4])
    def test_first_invocation_fails_and_keeps_the_batch(self, webhook, monkeypatch, urls: str):
        app, sqs, dlq_url = webhook
        monkeypatch.setenv("WEBHOOK_URLS", urls)
        record = {
            "messageId": "m-1",
            "receiptHandle": "h",
            "body": json.dumps(load_event("envelope-v1.json")),
            "attributes": {"ApproximateReceiveCount": "1"},
            "messageAttributes": {},
            "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:webhook",
        }

        with pytest.raises(ConfigurationError, match="WEBHOOK_URLS"):
            app.handler({"Records": [record]}, FakeContext(function_name="webhook"))

        assert sqs.receive_message(QueueUrl=dlq_url).get("Messages", []) == []
