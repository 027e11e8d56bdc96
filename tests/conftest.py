"""Shared fixtures: no test ever reaches real AWS."""

from __future__ import annotations

import os

import pytest

# Set before any boto3 client exists anywhere in the session (moto's own advice).
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SECURITY_TOKEN": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "AWS_XRAY_SDK_ENABLED": "false",
    }
)
for _var in ("AWS_PROFILE", "AWS_ENDPOINT_URL"):
    os.environ.pop(_var, None)

# moto in decorator mode (``mock_aws``) gets what the local hub's moto server gets:
# cross-account SNS delivery and Parameter Store shares (fanout/local/server.py).
from fanout.local.server import prepare_moto  # noqa: E402 - after the environment above

prepare_moto()


@pytest.fixture
def aws():
    """moto's mock of every AWS service, active for the test."""
    from moto import mock_aws

    with mock_aws():
        yield
