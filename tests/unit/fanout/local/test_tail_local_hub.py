"""`fanout tail` finds a running `fanout local up` by itself, and leaves nothing behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from typing import Any

import pytest
from botocore.exceptions import ClientError
from support.waiting import eventually

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
    err = capsys.readouterr().err
    assert f"tailing {topic}" in err
    # ... said that nothing came in its second, rather than leaving an empty screen
    assert err.splitlines()[-1] == "no envelope in 1 s"
    assert sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"] == []


def _tail_subscriptions(sns: Any, topic: str) -> list[str]:
    """The queue ARNs of `fanout tail` subscriptions on the topic."""
    subscriptions = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    return [s["Endpoint"] for s in subscriptions if ":fanout-tail-" in s["Endpoint"]]


@pytest.mark.parametrize(
    ("stop", "exit_code"),
    [
        # SIGTERM (`kill`, a container stopping): 128 + 15, as the shell reports a kill.
        (signal.SIGTERM, 128 + signal.SIGTERM),
        # Ctrl-C: the tail was asked to stop, which is success.
        (signal.SIGINT, 0),
    ],
    ids=["SIGTERM", "SIGINT"],
)
def test_a_stopped_tail_removes_its_queue_and_subscription(endpoint, unique, stop, exit_code):
    # GIVEN `fanout tail` running in its own process on a topic
    connection = Connection(endpoint_url=endpoint, session=local_session())
    sns, sqs = connection.client("sns"), connection.client("sqs")
    topic = sns.create_topic(Name=f"tail-{unique}")["TopicArn"]
    argv = ["tail", "--endpoint-url", endpoint, "--topic-arn", topic, "--region", "us-east-1"]
    tail = subprocess.Popen(  # noqa: S603 - this interpreter, fixed arguments
        [sys.executable, "-m", "fanout.cli", *argv],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        # As a script's background job starts: with SIGINT ignored, which the tail undoes
        # (https://www.gnu.org/software/bash/manual/html_node/Signals.html).
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),  # noqa: PLW1509
    )
    try:
        # (subscribed: its queue is on the topic)
        [queue_arn] = eventually(lambda: _tail_subscriptions(sns, topic), what="tail subscribed")
        # WHEN it is stopped by the signal
        tail.send_signal(stop)
        code = tail.wait(timeout=60)
    finally:
        if tail.poll() is None:
            tail.kill()
            tail.wait(timeout=30)
        stderr = tail.stderr.read().decode() if tail.stderr else ""
    # THEN it exits without a traceback, its subscription is gone, and so is its queue
    assert code == exit_code, stderr
    assert "Traceback" not in stderr
    assert _tail_subscriptions(sns, topic) == []
    queue_name = queue_arn.rsplit(":", 1)[1]
    with pytest.raises(ClientError) as gone:
        sqs.get_queue_url(QueueName=queue_name)
    assert gone.value.response["Error"]["Code"] in {
        "QueueDoesNotExist",
        "AWS.SimpleQueueService.NonExistentQueue",
    }
