"""The consumers' roles, as the templates deploy them, get exactly the calls their handlers make.

The local hub checks each call a function makes with its role's credentials
(``fanout.local.access``). These tests deploy the real templates to moto and make
the handlers' calls with a consumer role's key: what the role grants passes, what it
does not is refused with the service's error, as AWS evaluates it
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from fanout.connection import Connection
from fanout.deploy import deployer
from fanout.deploy.models import DeployedStack
from fanout.local.access import Authorizer, Identity, PolicyStore, installed, role_key
from fanout.local.policy import Principal

REGION = "us-east-1"
WEBHOOK_SECRET_NAME = "hub/webhook"
WEBHOOK_CONSUMER = "WebhookConsumer/ConsumerFunction"


@dataclass
class Deployed:
    hub: DeployedStack
    authorizer: Authorizer
    webhook_secret: str
    other_secret: str

    def role_of(self, function_path: str) -> str:
        name = self.hub.all_functions()[function_path].name
        return str(boto3.client("lambda").get_function_configuration(FunctionName=name)["Role"])

    def client_as(self, access_key: str, service: str) -> Any:
        """A client signing with ``access_key``, from a new session (it gets the hook)."""
        session = boto3.session.Session(
            region_name=REGION,
            aws_access_key_id=access_key,
            aws_secret_access_key="local",  # never checked locally
        )
        return session.client(service)


@pytest.fixture(scope="module")
def deployed() -> Iterator[Deployed]:
    with mock_aws():
        secrets = boto3.client("secretsmanager", region_name=REGION)
        webhook = secrets.create_secret(Name=WEBHOOK_SECRET_NAME, SecretString="k" * 32)["ARN"]
        other = secrets.create_secret(Name="another/secret", SecretString="x")["ARN"]
        hub = deployer.deploy(
            stack_name="hub",
            parameters={"WebhookUrls": "https://hooks.example.com/in", "WebhookSecretArn": webhook},
        )
        account = boto3.client("sts").get_caller_identity()["Account"]
        authorizer = Authorizer(PolicyStore(Connection(region=REGION)), REGION, account)
        with installed(authorizer.before_call, after=[authorizer.after_call]):
            yield Deployed(hub, authorizer, webhook, other)


def refused_code(call: Any) -> str:
    with pytest.raises(ClientError) as refused:
        call()
    assert "is not authorized to perform" in refused.value.response["Error"]["Message"]
    return str(refused.value.response["Error"]["Code"])


class TestWebhookSecret:
    """The webhook consumer's role reads its own secret and no other (kit ``ReadWebhookSecret``)."""

    def test_its_secret_by_arn_or_name_and_not_another(self, deployed: Deployed):
        # GIVEN the webhook consumer's role
        key = deployed.authorizer.add_role(deployed.role_of(WEBHOOK_CONSUMER))
        secrets = deployed.client_as(key, "secretsmanager")

        # THEN it reads its secret, by ARN (as the handler does) or by name
        assert secrets.get_secret_value(SecretId=deployed.webhook_secret)["SecretString"]
        assert secrets.get_secret_value(SecretId=WEBHOOK_SECRET_NAME)["SecretString"]
        # ... and not another secret of the account
        # https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_GetSecretValue.html
        code = refused_code(lambda: secrets.get_secret_value(SecretId=deployed.other_secret))
        assert code == "AccessDeniedException"

    def test_without_read_webhook_secret_the_read_is_refused(self, deployed: Deployed):
        # GIVEN the role's deployed policies with the kit's ReadWebhookSecret statement removed
        role = deployed.role_of(WEBHOOK_CONSUMER)
        policies = [
            {
                **document,
                "Statement": [
                    s
                    for s in document["Statement"]
                    if s is not None and s.get("Sid") != "ReadWebhookSecret"
                ],
            }
            for document in deployed.authorizer.store.role_policies(role)
        ]
        trimmed = role_key(role + "-trimmed")
        deployed.authorizer.register(trimmed, Identity(Principal(role), policies))

        # WHEN the handler reads its secret at cold start
        secrets = deployed.client_as(trimmed, "secretsmanager")

        # THEN the local hub refuses it, as AWS would
        code = refused_code(lambda: secrets.get_secret_value(SecretId=deployed.webhook_secret))
        assert code == "AccessDeniedException"


class TestTableWrites:
    """A consumer writes its own idempotency table, and not the hub's source table."""

    def test_idempotency_items_and_not_another_table(self, deployed: Deployed):
        key = deployed.authorizer.add_role(deployed.role_of(WEBHOOK_CONSUMER))
        dynamodb = deployed.client_as(key, "dynamodb")
        environment = deployed.hub.all_functions()[WEBHOOK_CONSUMER].environment
        table = environment["IDEMPOTENCY_TABLE"]
        item = {"pk": {"S": "evt-1"}}

        dynamodb.put_item(TableName=table, Item=item)
        assert dynamodb.get_item(TableName=table, Key=item)["Item"] == item
        dynamodb.delete_item(TableName=table, Key=item)

        source = deployed.hub.physical_ids.get("DemoTable")
        assert source, "the hub creates its demo table when no stream is given"
        code = refused_code(
            lambda: dynamodb.put_item(TableName=source, Item={"pk": {"S": "x"}, "sk": {"S": "y"}})
        )
        assert code == "AccessDeniedException"
