"""`import schemas` stays cheap: the models load on first use, and the public names still resolve."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import schemas
from schemas import v1

ROOT = Path(__file__).resolve().parents[3]


def test_the_latest_version_is_the_newest_model_and_is_supported():
    assert schemas.LATEST_VERSION == v1.SCHEMA_VERSION
    assert schemas.LATEST_VERSION in schemas.SUPPORTED_VERSIONS


def test_every_public_name_resolves():
    for name in schemas.__all__:
        assert getattr(schemas, name) is not None, name
    assert schemas.Envelope is v1.EnvelopeV1


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="NoSuchThing"):
        schemas.NoSuchThing  # noqa: B018 - the attribute access is the test


def test_the_router_cold_start_does_not_import_pydantic():
    """GIVEN a fresh interpreter WHEN the router's handler module loads THEN pydantic is not imported."""
    environment = {
        **os.environ,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_XRAY_SDK_ENABLED": "false",
        "TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:hub",
        "ROUTER_DLQ_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/router-dlq",
        "PAYLOAD_BUCKET": "payloads",
    }
    probe = (
        "import sys, router.app; print(sorted(m for m in sys.modules if m.startswith('pydantic')))"
    )
    result = subprocess.run(  # noqa: S603 - fixed arguments
        [sys.executable, "-c", probe],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert result.stdout.strip() == "[]", result.stdout
