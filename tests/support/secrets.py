"""Secrets as an operator stores them before a deploy: in (mocked) AWS Secrets Manager."""

from __future__ import annotations

import uuid

import boto3

# A well-formed ARN for tests that never read the secret (settings parsing only).
UNREAD_SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:fanout-hub/webhook-AbCdEf"


def a_stored_secret(value: str, name: str = "fanout-hub/webhook") -> str:
    """Store ``value`` as a secret string in the current (moto) endpoint; its ARN."""
    unique = f"{name}-{uuid.uuid4().hex[:8]}"
    return boto3.client("secretsmanager").create_secret(Name=unique, SecretString=value)["ARN"]
