"""`fanout status`, `fanout dlq peek` and `fanout dlq redrive` against the local hub.

One hub for the module, with the emulator stopped so nothing drains the queues
while a test looks at them. The DLQs are filled by the consumer runtime's own
dead-letter code (``consumers.runtime.deadletter``) and, for messages a queue's
redrive policy moved, with the router's envelope and attributes and no error.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
from support.builders import a_stream_record
from support.cli import run_fanout
from support.queues import drain

from consumers.runtime.deadletter import DeadLetterQueue as RuntimeDlq
from consumers.runtime.deadletter import dead_letter_of
from fanout.cli import main
from fanout.connection import Connection
from fanout.local.demo import parameters_for_demo
from fanout.local.hub import LocalHub
from fanout.ops.dlq.queues import resolve_dlq
from fanout.ops.dlq.redrive import Redrive
from fanout.ops.pacing import Retry
from fanout.ops.resolve import Hub, resolve
from router.normalise import EntityRules, to_outbound

pytestmark = pytest.mark.e2e


class Env:
    """The running hub, a connection to it, and the resolved stack."""

    def __init__(self, hub: LocalHub) -> None:
        self.hub = hub
        self.url = str(hub.endpoint_url)
        self.connection = Connection(endpoint_url=self.url, region=hub.region)
        self.resolved: Hub = resolve(self.connection, "fanout-hub")
        self.sqs = self.connection.client("sqs")

    def cli(self, *argv: str) -> tuple[int, Any]:
        ran = run_fanout([*argv, "--endpoint-url", self.url, "--json"])
        return ran.code, ran.document()

    def depth(self, url: str) -> int:
        return self.hub.depth(url)

    def drain(self, url: str) -> list[dict[str, Any]]:
        """Every message on a queue, deleted (for asserting what arrived)."""
        return drain(self.sqs, url)


def envelope(hub: LocalHub, pk: str) -> Any:
    record = a_stream_record(keys={"pk": pk, "sk": "META"}, stream_arn=hub.stream_arn)
    return to_outbound(record, EntityRules())


def dead_letter(env: Env, dlq_url: str, pk: str, error: Exception) -> str:
    """A message the runtime dead-letters with ``error`` (its real format)."""
    outbound = envelope(env.hub, pk)
    record = {
        "messageId": f"m-{pk}",
        "body": outbound.body,
        "attributes": {"ApproximateReceiveCount": "1"},
        "messageAttributes": {
            name: {"dataType": a["DataType"], "stringValue": a["StringValue"]}
            for name, a in outbound.attributes.items()
        },
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:source",
    }
    letter = dead_letter_of(record, consumer="test", error=error, envelope_id=outbound.envelope_id)
    RuntimeDlq(env.sqs, dlq_url).send(letter)
    return outbound.envelope_id


def redriven_by_queue(env: Env, dlq_url: str, pk: str) -> str:
    """A message a queue's redrive policy moved: the envelope and attributes, no error."""
    outbound = envelope(env.hub, pk)
    env.sqs.send_message(
        QueueUrl=dlq_url, MessageBody=outbound.body, MessageAttributes=outbound.attributes
    )
    return outbound.envelope_id


class InvalidMessageError(Exception):
    """Stands in for the runtime's validation failure."""


@pytest.fixture(scope="module")
def env() -> Iterator[Env]:
    hub = LocalHub(
        parameters=parameters_for_demo({}), start_emulator=False, handler_output=io.StringIO()
    )
    with hub:
        env = Env(hub)
        webhook = env.resolved.consumer("webhook").dlq_url
        for n in range(4):
            dead_letter(env, webhook, f"ORDER#{n}", InvalidMessageError("bad total: -1"))
        for n in range(2):
            redriven_by_queue(env, webhook, f"CUSTOMER#{n}")
        yield env


def test_stack_resolves_every_consumer_and_the_router(env: Env):
    hub = env.resolved
    assert [c.name for c in hub.consumers] == ["audit-log", "projection", "webhook"]
    assert hub.topic_arn == env.hub.topic_arn
    assert hub.table_name == env.hub.table_name
    assert hub.router_environment["TOPIC_ARN"] == env.hub.topic_arn
    assert hub.failure_destination is not None
    assert hub.failure_destination.startswith("arn:aws:s3:::")


def test_status_shows_depths_dead_letters_and_alarms(env: Env):
    # GIVEN an alarm in ALARM (moto evaluates no alarms, so its state is set)
    cloudwatch = env.connection.client("cloudwatch")
    alarm = "fanout-hub-WebhookConsumer-DeadLetterQueueAlarm"
    cloudwatch.set_alarm_state(AlarmName=alarm, StateValue="ALARM", StateReason="6 messages")

    # WHEN
    code, status = env.cli("status")

    # THEN every queue of the stack is listed with its numbers
    assert code == 0
    rows = {(q["owner"], q["role"]): q for q in status["queues"]}
    assert set(rows) == {
        *((c, r) for c in ("audit-log", "projection", "webhook") for r in ("queue", "dlq")),
        ("router", "router-dlq"),
    }
    assert rows["webhook", "dlq"]["visible"] == 6
    assert status["dead_letters"] == 6
    assert status["failed_batches"] == 0
    # the age of the oldest message is a CloudWatch metric, which moto does not publish
    assert rows["webhook", "dlq"]["oldest_age_seconds"] is None
    assert any("CloudWatch" in note for note in status["notes"])
    (alarmed,) = status["alarms"]
    assert alarmed["name"] == alarm
    assert alarmed["runbook"] == "docs/runbooks.md#consumer-dlq-not-empty"


def test_status_prints_a_plain_table_when_not_on_a_terminal(env: Env):
    ran = run_fanout(["status", "--endpoint-url", env.url])
    text = ran.out
    assert ran.code == 0
    assert "queues of fanout-hub" in text
    assert "router-dlq" in text


def test_peek_decodes_every_message_and_leaves_it_in_place(env: Env):
    code, peeked = env.cli("dlq", "peek", "webhook")

    assert code == 0
    messages = peeked["messages"]
    assert sorted(m["type"] for m in messages) == ["customer.created"] * 2 + ["order.created"] * 4
    failed = [m for m in messages if m["type"] == "order.created"]
    assert {m["error_type"] for m in failed} == {"InvalidMessageError"}
    assert {m["error"] for m in failed} == {"bad total: -1"}
    assert all(m["dead_lettered_at"] and m["first_seen"] for m in failed)
    assert all(m["envelope_id"] and m["subject"] for m in messages)
    moved = [m for m in messages if m["type"] == "customer.created"]
    assert {m["error_type"] for m in moved} == {"maxReceiveCount"}
    # nothing was consumed: every message is visible again
    dlq = env.resolved.consumer("webhook").dlq_url
    attributes = env.sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["All"])["Attributes"]
    assert attributes["ApproximateNumberOfMessages"] == "6"
    assert attributes["ApproximateNumberOfMessagesNotVisible"] == "0"


def test_peek_filters_by_type_and_by_error(env: Env):
    _, by_type = env.cli("dlq", "peek", "webhook", "--type", "customer.*")
    _, by_error = env.cli("dlq", "peek", "webhook", "--error", "BAD TOTAL")

    assert {m["type"] for m in by_type["messages"]} == {"customer.created"}
    assert len(by_type["messages"]) == 2
    assert len(by_error["messages"]) == 4


def test_peek_refuses_a_source_queue_unless_forced(env: Env):
    queue = env.resolved.consumer("audit-log").queue_url
    assert main(["dlq", "peek", queue, "--endpoint-url", env.url]) == 2
    assert main(["dlq", "peek", queue, "--endpoint-url", env.url, "--force"]) == 0


def test_redrive_dry_run_moves_nothing(env: Env):
    code, report = env.cli("dlq", "redrive", "webhook", "--dry-run")

    assert code == 0
    assert report["dry_run"] is True
    assert len(report["would_move"]) == 6
    assert env.depth(env.resolved.consumer("webhook").dlq_url) == 6
    assert env.depth(env.resolved.consumer("webhook").queue_url) == 0


def test_redrive_falls_back_to_the_loop_where_the_move_task_is_missing(env: Env):
    # GIVEN moto, which has no StartMessageMoveTask
    consumer = env.resolved.consumer("audit-log")
    ids = {redriven_by_queue(env, consumer.dlq_url, f"AUDIT#{n}") for n in range(3)}
    source = resolve_dlq(env.resolved, env.sqs, "audit-log")

    # WHEN
    report = Redrive(env.sqs, source, consumer.queue_url).run("auto")

    # THEN the receive/send/delete loop moved every message, saying why
    assert report.method == "loop"
    assert report.loop_because is not None
    assert "no StartMessageMoveTask" in report.loop_because
    assert report.moved == 3
    arrived = env.drain(consumer.queue_url)
    assert {json.loads(m["Body"])["id"] for m in arrived} == ids
    assert env.depth(consumer.dlq_url) == 0


class SendFault:
    """Fails the run right after the N-th SendMessageBatch reached the queue (a crash
    between the send and the delete: the worst moment)."""

    def __init__(self, after_calls: int) -> None:
        self.after_calls = after_calls
        self.calls = 0

    def install(self, client: Any) -> None:
        client.meta.events.register("after-call.sqs.SendMessageBatch", self._after)

    def _after(self, **_: Any) -> None:
        self.calls += 1
        if self.calls == self.after_calls:
            raise ConnectionAbortedError("injected: the operator's laptop went to sleep")


def test_redrive_interrupted_half_way_then_resumed_loses_nothing(env: Env):
    # GIVEN 25 dead letters in the projection's DLQ
    consumer = env.resolved.consumer("projection")
    ids = {
        dead_letter(env, consumer.dlq_url, f"ITEM#{n:02d}", InvalidMessageError("downstream 503"))
        for n in range(25)
    }
    source = resolve_dlq(env.resolved, env.sqs, "projection")
    faulty = Connection(endpoint_url=env.url, region=env.hub.region)
    SendFault(after_calls=2).install(faulty.client("sqs"))

    # WHEN a redrive dies after its second batch was sent but before it was deleted
    with pytest.raises(ConnectionAbortedError):
        Redrive(faulty.client("sqs"), source, consumer.queue_url, rate=0, retry=Retry()).run("loop")
    # the unsent messages were handed back at once: a resume need not wait them out
    assert env.depth(consumer.dlq_url) == 15
    assert (
        env.sqs.get_queue_attributes(
            QueueUrl=consumer.dlq_url, AttributeNames=["ApproximateNumberOfMessagesNotVisible"]
        )["Attributes"]["ApproximateNumberOfMessagesNotVisible"]
        == "0"
    )

    # AND it is run again
    report = Redrive(env.sqs, source, consumer.queue_url, rate=0).run("loop")

    # THEN every message reached the queue, the DLQ is empty, and the only repeats are
    # the batch that was in flight at the crash (at-least-once)
    arrived = env.drain(consumer.queue_url)
    delivered = [json.loads(m["Body"])["id"] for m in arrived]
    assert set(delivered) == ids
    assert len(delivered) - len(ids) <= 10
    assert report.moved == 15
    assert env.depth(consumer.dlq_url) == 0
    # the body is the envelope byte for byte, and every attribute came along
    sample = arrived[0]["MessageAttributes"]
    assert sample["type"]["StringValue"] == "item.created"
    assert sample["fanout-error-type"]["StringValue"] == "InvalidMessageError"


def test_redrive_to_another_consumer_moves_only_what_the_filter_selects(env: Env):
    # WHEN the two customer events are sent to the audit log instead
    code, report = env.cli("dlq", "redrive", "webhook", "--type", "customer.*", "--to", "audit-log")

    # THEN
    assert code == 0
    assert report["moved"] == 2
    assert report["skipped"] == 4
    arrived = env.drain(env.resolved.consumer("audit-log").queue_url)
    assert {json.loads(m["Body"])["type"] for m in arrived} == {"customer.created"}
    assert env.depth(env.resolved.consumer("webhook").dlq_url) == 4
    assert env.depth(env.resolved.consumer("webhook").queue_url) == 0


def test_redrive_of_the_router_dlq_points_to_replay(env: Env, capsys):
    assert main(["dlq", "redrive", "router", "--endpoint-url", env.url]) == 2
    assert "replay poison" in capsys.readouterr().err


def test_unknown_consumer_is_a_clear_error(env: Env, capsys):
    assert main(["dlq", "peek", "no-such-consumer", "--endpoint-url", env.url]) == 2
    assert "not a consumer" in capsys.readouterr().err
