"""`fanout tail` against a running `fanout local up` needs no AWS credentials."""

from __future__ import annotations

import pytest

from fanout.cli import main
from fanout.connection import Connection
from fanout.local import hub as local_hub
from fanout.local.server import local_session
from tests.support.hub_state import write_state


@pytest.fixture
def no_aws_credentials(monkeypatch, tmp_path):
    """A fresh machine: no credentials in the environment or in any file."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def test_tail_finds_the_running_hub_without_credentials(
    no_aws_credentials, endpoint, unique, tmp_path, monkeypatch, capsys
):
    # GIVEN a running hub's state file (its topic on its endpoint) and no AWS credentials
    sns = Connection(endpoint_url=endpoint, session=local_session()).client("sns")
    topic = sns.create_topic(Name=f"hub-{unique}")["TopicArn"]
    monkeypatch.setattr(local_hub, "STATE_FILE", tmp_path / "fanout-local-hub.json")
    write_state(local_hub.STATE_FILE, endpoint_url=endpoint, topic_arn=topic)
    # WHEN `fanout tail` runs with no options
    code = main(["tail", "--duration", "1"])
    # THEN it tailed the hub's topic, and removed its queue and subscription on exit
    assert code == 0
    assert f"tailing {topic}" in capsys.readouterr().err
    assert sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"] == []
