"""The local hub stores ``local-secret:`` parameters in Secrets Manager and passes their ARNs."""

from __future__ import annotations

import boto3
from moto import mock_aws

from fanout.connection import Connection
from fanout.local.hub import LOCAL_SECRET_PREFIX, store_local_secrets


class TestLocalSecrets:
    """What an operator does with ``aws secretsmanager create-secret`` before a deploy."""

    def test_marked_parameters_become_secret_arns(self):
        with mock_aws():
            # GIVEN a parameter marked as a local secret, and an ordinary one
            parameters = {
                "WebhookSecretArn": f"{LOCAL_SECRET_PREFIX}a-local-key-0123456789",
                "WebhookUrls": "https://hooks.example.com/in",
            }
            # WHEN the local hub resolves them before deploying
            resolved = store_local_secrets(Connection(region="us-east-1"), parameters)
            stored = boto3.client("secretsmanager").get_secret_value(
                SecretId=resolved["WebhookSecretArn"]
            )
        # THEN the template gets the secret's ARN, and the secret holds the value
        assert resolved["WebhookSecretArn"].startswith("arn:aws:secretsmanager:us-east-1:")
        assert stored["SecretString"] == "a-local-key-0123456789"
        assert resolved["WebhookUrls"] == parameters["WebhookUrls"]
