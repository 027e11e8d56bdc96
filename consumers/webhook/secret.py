"""The webhook signing key, read from AWS Secrets Manager (once per container, at cold start).

The function's environment holds only the secret's ARN (``WEBHOOK_SECRET_ARN``);
its role may call ``secretsmanager:GetSecretValue`` on that one secret.
https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_GetSecretValue.html
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from botocore.exceptions import ClientError

from consumers.webhook.forwarder import MIN_SECRET_CHARS
from hubcommon.errors import ConfigurationError

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager.type_defs import GetSecretValueResponseTypeDef


class SecretValues(Protocol):
    """The one Secrets Manager call the webhook makes (a boto3 client satisfies it)."""

    def get_secret_value(self, *, SecretId: str) -> GetSecretValueResponseTypeDef:  # noqa: N803 - boto3's name
        """The current version of the secret."""
        ...


def signing_key(secrets: SecretValues, secret_arn: str) -> str:
    """The HMAC key stored as the secret's string.

    Raises ``ConfigurationError`` naming WEBHOOK_SECRET_ARN (never the value) when the
    secret cannot be read, is binary, or is shorter than ``MIN_SECRET_CHARS``.
    """
    try:
        value = secrets.get_secret_value(SecretId=secret_arn)
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "unknown")
        raise ConfigurationError(f"WEBHOOK_SECRET_ARN: cannot read the secret ({code})") from None
    key = value.get("SecretString")
    if key is None:
        raise ConfigurationError("WEBHOOK_SECRET_ARN: the secret holds no SecretString")
    if len(key) < MIN_SECRET_CHARS:
        raise ConfigurationError(
            f"WEBHOOK_SECRET_ARN: the key has fewer than {MIN_SECRET_CHARS} characters"
        )
    return key
