"""Which endpoint and identity the operations commands use when a local hub is running."""

from __future__ import annotations

import argparse

import pytest
from botocore.awsrequest import AWSPreparedRequest

from fanout.local import hub as local_hub
from fanout.local.access import OPERATOR_ACCESS_KEY
from fanout.ops import cli
from fanout.ops.resolve import Hub
from fanout.options import NoHubError

HUB = {"endpoint_url": "http://127.0.0.1:5999", "region": "eu-west-1"}


def common_args(**given: str | None) -> argparse.Namespace:
    names = ("endpoint_url", "region", "profile", "stack_name", "topic_arn", "table")
    names += ("stream_arn", "router_dlq_url", "failure_destination", "payload_bucket")
    values: dict[str, str | None] = dict.fromkeys(names)
    values.update(given)
    return argparse.Namespace(**values)


class _Sent(Exception):  # noqa: N818 - carries the request out of botocore, not an error
    def __init__(self, request: AWSPreparedRequest) -> None:
        self.request = request


def what_is_sent(client: object) -> AWSPreparedRequest:
    """The signed request a client would send for ``ListTopics`` (it is never sent)."""

    def stop(request: AWSPreparedRequest, **_: object) -> None:
        raise _Sent(request)

    client.meta.events.register("before-send.sns.ListTopics", stop)  # type: ignore[attr-defined]
    with pytest.raises(_Sent) as caught:
        client.list_topics()  # type: ignore[attr-defined]
    return caught.value.request


@pytest.fixture
def running_hub(monkeypatch):
    """A `fanout local up` state file; the hub's hooks and the stack lookup stubbed out."""
    monkeypatch.setattr(local_hub, "load_state", lambda: dict(HUB))
    monkeypatch.setattr(local_hub, "hub_alive", lambda _: True)
    monkeypatch.setattr(local_hub, "serve_running_hub", lambda *_, **__: None)
    monkeypatch.setattr(
        cli, "resolve", lambda connection, *_: Hub(stack_name="fanout-hub", found=True)
    )
    # Credentials a user may have for a real account: they must not be sent to the hub.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAREALACCOUNTKEY00")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "real-secret")


class TestTheRunningLocalHub:
    """With no endpoint or profile given, a command talks to the running hub as its operator."""

    def test_the_hub_endpoint_and_the_operator_identity(self, running_hub):
        # GIVEN a running local hub and real-account credentials in the environment
        # WHEN a command connects with no endpoint, profile or credentials of its own
        connection, _ = cli.connect(common_args())
        # THEN it talks to the hub, in the hub's region, as the hub's operator
        sent = what_is_sent(connection.client("sns"))
        assert sent.url.startswith(HUB["endpoint_url"] + "/")
        assert f"Credential={OPERATOR_ACCESS_KEY}/" in sent.headers["Authorization"].decode()
        assert "/eu-west-1/sns/" in sent.headers["Authorization"].decode()

    def test_a_profile_means_a_real_account(self, running_hub, monkeypatch):
        monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
        # GIVEN a profile WHEN a command connects THEN the hub is not used
        with pytest.raises(Exception, match="could not be found"):
            cli.connect(common_args(profile="prod-operator"))


class TestNoHub:
    """With no hub running and nothing named, a command refuses rather than call an account."""

    def test_nothing_named_and_no_hub_is_a_usage_error(self, monkeypatch):
        # GIVEN no running local hub (a stale state file counts as none)
        monkeypatch.setattr(local_hub, "load_state", lambda: dict(HUB))
        monkeypatch.setattr(local_hub, "hub_alive", lambda _: False)
        # WHEN a command connects with no stack, profile or endpoint THEN it refuses
        with pytest.raises(NoHubError, match="no local hub is running"):
            cli.connect(common_args())

    def test_a_stack_name_alone_means_the_account(self, monkeypatch):
        # GIVEN no running hub and a stack name
        monkeypatch.setattr(local_hub, "load_state", lambda: None)
        seen: list[str] = []
        monkeypatch.setattr(
            cli, "resolve", lambda _, name, *__: seen.append(name) or Hub(name, found=True)
        )
        # WHEN a command connects THEN the SDK's default endpoint is used for that stack
        connection, hub = cli.connect(common_args(stack_name="orders-hub"))
        assert connection.endpoint_url is None
        assert (seen, hub.stack_name) == (["orders-hub"], "orders-hub")
