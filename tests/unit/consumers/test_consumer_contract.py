"""Every in-repo consumer reads the stored envelope of every published version."""

from __future__ import annotations

import json
from collections.abc import Mapping

import boto3
import pytest
from consumer_builders import (
    an_sqs_event,
    an_sqs_record,
    envelope_fixture,
    failed_ids,
)
from support.builders import FakeContext
from support.hostile import sns_notification

from consumers.audit_log.app import handler as audit_handler
from consumers.projection.app import handler as projection_handler
from consumers.projection.view import Projection, ProjectionSettings
from consumers.runtime import consumer
from consumers.webhook.forwarder import Forwarder, WebhookSettings
from consumers.webhook.transport import Response
from schemas import SUPPORTED_VERSIONS, parse_envelope

VERSIONS = list(SUPPORTED_VERSIONS)


def deliveries(version: str) -> list[str]:
    """The fixture as raw delivery and as an SNS notification."""
    body = envelope_fixture(version)
    return [body, sns_notification(body)]


class RecordingTransport:
    def __init__(self) -> None:
        self.posts: list[bytes] = []

    def post(self, url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> Response:
        self.posts.append(body)
        return Response(202)


@pytest.mark.parametrize("version", VERSIONS)
class TestContract:
    """The fixture flows through each consumer to its side effect."""

    def test_the_fixture_is_a_valid_envelope(self, version):
        envelope = parse_envelope(envelope_fixture(version))

        assert envelope.schemaversion == version

    def test_audit_log(self, version, consumer_env, consumer_aws, fresh_handlers):
        for body in deliveries(version):
            assert failed_ids(audit_handler(an_sqs_event(an_sqs_record(body)), FakeContext())) == []

        listing = consumer_aws.s3.list_objects_v2(Bucket="fanout-hub-audit")["Contents"]
        assert len(listing) == 1

    def test_projection(self, version, consumer_env, fresh_handlers):
        for body in deliveries(version):
            assert (
                failed_ids(projection_handler(an_sqs_event(an_sqs_record(body)), FakeContext()))
                == []
            )

        envelope = parse_envelope(envelope_fixture(version))
        view = Projection(boto3.client("dynamodb"), ProjectionSettings.from_env())
        state = view.get(envelope.subject)
        assert state is not None
        assert envelope.data is not None
        assert state.item == envelope.data.new

    def test_webhook(self, version, consumer_env):
        transport = RecordingTransport()
        settings = WebhookSettings(urls=("https://hooks.example.com/in",), secret="x" * 32)
        handler = consumer()(Forwarder(settings, transport).deliver)

        for body in deliveries(version):
            assert failed_ids(handler(an_sqs_event(an_sqs_record(body)), FakeContext())) == []

        assert len(transport.posts) == 1  # the second delivery is a duplicate
        assert json.loads(transport.posts[0]) == json.loads(envelope_fixture(version))
