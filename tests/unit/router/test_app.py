"""The handler's wiring: the clients a rare path needs are built only when it happens."""

from __future__ import annotations

import sys
import threading
from typing import Any

import boto3
import botocore.session
import pytest
from support.builders import FakeContext, a_batch, a_stream_record

from router import app
from router.app import LazyClient


@pytest.fixture
def hub(aws, monkeypatch):
    sns, sqs, s3 = boto3.client("sns"), boto3.client("sqs"), boto3.client("s3")
    s3.create_bucket(Bucket="payloads-1")
    monkeypatch.setenv("TOPIC_ARN", sns.create_topic(Name="hub")["TopicArn"])
    monkeypatch.setenv("ROUTER_DLQ_URL", sqs.create_queue(QueueName="router-dlq")["QueueUrl"])
    monkeypatch.setenv("PAYLOAD_BUCKET", "payloads-1")
    app.build_router.cache_clear()
    yield s3
    app.build_router.cache_clear()


@pytest.fixture
def clients_built(hub, monkeypatch) -> list[str]:
    """The AWS service of every client botocore builds from here on, in order."""
    built: list[str] = []
    create = botocore.session.Session.create_client

    def recording(self: botocore.session.Session, service_name: str, *args: Any, **kwargs: Any):
        built.append(service_name)
        return create(self, service_name, *args, **kwargs)

    monkeypatch.setattr(botocore.session.Session, "create_client", recording)
    return built


class TestRareClients:
    """S3 and SQS clients exist only once an oversize or poison record needs them."""

    def test_an_ordinary_batch_builds_neither(self, clients_built):
        response = app.handler(a_batch(a_stream_record(), a_stream_record()), FakeContext())
        assert response == {"batchItemFailures": []}
        assert clients_built == ["sns"]

    def test_an_oversize_record_builds_s3_and_is_stored(self, hub, clients_built):
        big = a_stream_record(
            keys={"pk": "DOC#1", "sk": "v1"}, new={"pk": "DOC#1", "sk": "v1", "blob": "x" * 300_000}
        )
        assert app.handler(a_batch(big), FakeContext()) == {"batchItemFailures": []}
        assert clients_built == ["sns", "s3"]
        assert hub.list_objects_v2(Bucket="payloads-1")["KeyCount"] == 1

    def test_a_poison_record_builds_sqs_and_is_kept(self, clients_built):
        bad = a_stream_record()
        bad["dynamodb"]["NewImage"]["odd"] = {"ZZ": "1"}
        assert app.handler(a_batch(bad), FakeContext()) == {"batchItemFailures": []}
        assert clients_built == ["sns", "sqs"]


class TestLazyClient:
    """Built once, on first use, even when threads race for it."""

    def test_built_once_under_concurrent_first_use(self):
        built: list[object] = []
        barrier = threading.Barrier(8)

        class Client:
            def ping(self) -> str:
                return "pong"

        def build() -> Client:
            built.append(object())
            return Client()

        lazy = LazyClient(build)
        assert not lazy.built
        answers: list[str] = []

        def use() -> None:
            barrier.wait()
            answers.append(lazy.ping())

        threads = [threading.Thread(target=use) for _ in range(8)]
        switch = sys.getswitchinterval()
        sys.setswitchinterval(1e-6)  # interleave the threads as much as possible
        try:
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=10)
        finally:
            sys.setswitchinterval(switch)
        assert answers == ["pong"] * 8
        assert len(built) == 1
