"""`fanout dlq redrive` with SQS's own move task, and the loop where it cannot be used.

moto has no StartMessageMoveTask, so ``support.move_tasks.MoveTasks`` answers the
three move-task operations on the client under test (and really moves messages on
moto); everything else is moto.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from support.move_tasks import MoveTasks
from support.queues import drain

from consumers.runtime.deadletter import DeadLetterQueue as RuntimeDlq
from consumers.runtime.deadletter import dead_letter_of
from fanout.cli import main
from fanout.connection import Connection
from fanout.ops import cli
from fanout.ops.dlq.decode import MessageFilter
from fanout.ops.dlq.move_task import (
    MoveTaskInterruptedError,
    MoveTaskRunningError,
    follow_move_task,
)
from fanout.ops.dlq.queues import ResolvedDlq
from fanout.ops.dlq.redrive import Redrive
from fanout.ops.resolve import ConsumerQueues, Hub, ResolveError, queue_arn_of

DEAD_LETTERS = 5


@dataclass
class Queues:
    """A consumer queue with a redrive policy to its DLQ, and another queue."""

    sqs: Any
    source: str
    dlq: str
    other: str

    def arn(self, url: str) -> str:
        return queue_arn_of(self.sqs, url)

    @property
    def resolved_dlq(self) -> ResolvedDlq:
        return ResolvedDlq("orders", self.dlq, "consumer", self.source)

    def depth(self, url: str) -> int:
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(
            attributes["ApproximateNumberOfMessagesNotVisible"]
        )

    def bodies(self, url: str) -> list[str]:
        """Every message body on a queue (received and deleted)."""
        return [m["Body"] for m in drain(self.sqs, url)]


def make_queues(sqs: Any, suffix: str = "") -> Queues:
    attributes = {"FifoQueue": "true"} if suffix else {}
    dlq = sqs.create_queue(QueueName=f"orders-dlq{suffix}", Attributes=attributes)["QueueUrl"]
    dlq_arn = queue_arn_of(sqs, dlq)
    source = sqs.create_queue(
        QueueName=f"orders{suffix}",
        Attributes={
            **attributes,
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 1}),
        },
    )["QueueUrl"]
    other = sqs.create_queue(QueueName=f"replays{suffix}", Attributes=attributes)["QueueUrl"]
    return Queues(sqs, source, dlq, other)


@pytest.fixture
def queues(aws: None) -> Queues:
    queues = make_queues(boto3.client("sqs"))
    for n in range(DEAD_LETTERS):
        queues.sqs.send_message(QueueUrl=queues.dlq, MessageBody=json.dumps({"id": f"evt-{n}"}))
    return queues


class Recorder:
    """A ``Progress`` that keeps every advance."""

    def __init__(self) -> None:
        self.steps: list[int] = []

    def advance(self, amount: int = 1) -> None:
        self.steps.append(amount)


class TestStartingTheMoveTask:
    """The move task is started with the DLQ as source, the right destination and rate."""

    def test_back_to_the_source_queue_leaves_the_destination_to_sqs(self, queues: Queues):
        tasks = MoveTasks().install(queues.sqs)

        report = Redrive(queues.sqs, queues.resolved_dlq, queues.source, rate=50).run()

        assert report.method == "move-task"
        (started,) = tasks.params_of("StartMessageMoveTask")
        # No DestinationArn: SQS returns each message to the queue it came from.
        assert started == {"SourceArn": queues.arn(queues.dlq), "MaxNumberOfMessagesPerSecond": 50}
        assert report.task_handle == tasks.tasks[-1].handle

    def test_another_queue_is_named_as_the_destination(self, queues: Queues):
        tasks = MoveTasks().install(queues.sqs)

        Redrive(queues.sqs, queues.resolved_dlq, queues.other, rate=20).run("move-task")

        (started,) = tasks.params_of("StartMessageMoveTask")
        assert started == {
            "SourceArn": queues.arn(queues.dlq),
            "DestinationArn": queues.arn(queues.other),
            "MaxNumberOfMessagesPerSecond": 20,
        }

    @pytest.mark.parametrize(
        ("rate", "sent"), [(5000.0, 500), (0.5, 1), (0.0, None)], ids=["capped", "at-least-1", "0"]
    )
    def test_the_rate_is_within_what_sqs_accepts(self, queues: Queues, rate: float, sent: Any):
        tasks = MoveTasks().install(queues.sqs)

        Redrive(queues.sqs, queues.resolved_dlq, queues.source, rate=rate).run()

        (started,) = tasks.params_of("StartMessageMoveTask")
        # Left out (rate 0), SQS chooses the rate from the backlog.
        assert started.get("MaxNumberOfMessagesPerSecond") == sent

    def test_a_task_already_running_on_the_dlq_is_a_clear_error(self, queues: Queues):
        tasks = MoveTasks().install(queues.sqs)
        tasks.running(queues.arn(queues.dlq))

        with pytest.raises(MoveTaskRunningError, match="one per queue"):
            Redrive(queues.sqs, queues.resolved_dlq, queues.source).run()

        assert tasks.params_of("StartMessageMoveTask") == []
        assert queues.depth(queues.dlq) == DEAD_LETTERS

    @pytest.mark.parametrize(
        ("code", "status"),
        [("AccessDenied", 403), ("AccessDeniedException", 400), ("InternalError", 500)],
    )
    def test_an_error_from_sqs_is_raised_not_taken_for_a_missing_feature(
        self, queues: Queues, code: str, status: int
    ):
        MoveTasks(start_error=(code, status)).install(queues.sqs)

        with pytest.raises(ClientError, match=code):
            Redrive(queues.sqs, queues.resolved_dlq, queues.source).run()

        # Nothing moved by another path behind the operator's back.
        assert queues.depth(queues.dlq) == DEAD_LETTERS
        assert queues.depth(queues.source) == 0

    def test_an_endpoint_without_the_move_task_falls_back_to_the_loop_and_says_so(
        self, queues: Queues
    ):
        # moto itself: no hooks, StartMessageMoveTask is not implemented
        report = Redrive(queues.sqs, queues.resolved_dlq, queues.source, rate=0).run()

        assert report.method == "loop"
        assert report.loop_because is not None
        assert "no StartMessageMoveTask" in report.loop_because
        assert report.moved == DEAD_LETTERS
        assert queues.depth(queues.dlq) == 0

    def test_an_emulators_bare_500_falls_back_to_the_loop(self, queues: Queues):
        # moto's server answers an unimplemented action with an HTML 500: botocore's code "500"
        MoveTasks(start_error=("500", 500)).install(queues.sqs)

        report = Redrive(queues.sqs, queues.resolved_dlq, queues.source, rate=0).run()

        assert (report.method, report.moved) == ("loop", DEAD_LETTERS)

    def test_move_task_on_an_endpoint_without_it_is_an_error(self, queues: Queues):
        with pytest.raises(ResolveError, match="no StartMessageMoveTask"):
            Redrive(queues.sqs, queues.resolved_dlq, queues.source).run("move-task")
        assert queues.depth(queues.dlq) == DEAD_LETTERS

    def test_what_a_move_task_cannot_do_runs_the_loop_without_asking_for_one(self, queues: Queues):
        tasks = MoveTasks().install(queues.sqs)

        report = Redrive(
            queues.sqs,
            queues.resolved_dlq,
            queues.source,
            rate=0,
            message_filter=MessageFilter(error_text="nothing matches this"),
        ).run()

        assert report.method == "loop"
        assert report.loop_because is not None
        assert "--type/--error" in report.loop_because
        assert tasks.calls == []
        with pytest.raises(ResolveError, match="--type/--error"):
            Redrive(
                queues.sqs,
                queues.resolved_dlq,
                queues.source,
                message_filter=MessageFilter(type_pattern="order.*"),
            ).run("move-task")

    def test_a_queue_that_is_no_queues_dlq_is_moved_by_the_loop(self, queues: Queues):
        # StartMessageMoveTask only accepts DLQs whose sources are SQS queues.
        tasks = MoveTasks().install(queues.sqs)
        plain = ResolvedDlq("replays", queues.other, "queue")
        queues.sqs.send_message(QueueUrl=queues.other, MessageBody="{}")

        report = Redrive(queues.sqs, plain, queues.source, rate=0).run()

        assert report.method == "loop"
        assert report.loop_because is not None
        assert "DLQ of another SQS queue" in report.loop_because
        assert report.moved == 1
        assert tasks.params_of("StartMessageMoveTask") == []


class TestFollowingTheMoveTask:
    """``--wait`` follows the task to its end, shows progress, and cancels it on Ctrl-C."""

    def start(self, queues: Queues, tasks: MoveTasks) -> str:
        tasks.install(queues.sqs)
        report = Redrive(queues.sqs, queues.resolved_dlq, queues.source).run("move-task")
        assert report.task_handle is not None
        return report.task_handle

    def test_runs_to_completed_with_progress(self, queues: Queues):
        tasks = MoveTasks(per_poll=2)
        handle = self.start(queues, tasks)
        progress, slept = Recorder(), []

        outcome = follow_move_task(
            queues.sqs, queues.arn(queues.dlq), handle, progress=progress, sleep=slept.append
        )

        assert outcome.status == "COMPLETED"
        assert outcome.moved == DEAD_LETTERS
        assert progress.steps == [2, 2, 1]
        assert len(slept) == 2  # polled until the task ended, no longer
        assert sorted(queues.bodies(queues.source)) == [
            json.dumps({"id": f"evt-{n}"}) for n in range(DEAD_LETTERS)
        ]
        assert queues.depth(queues.dlq) == 0

    def test_a_failed_task_reports_its_failure_reason(self, queues: Queues):
        tasks = MoveTasks(per_poll=2, fail_after=3, failure_reason="CouldNotDetermineMessageSource")
        handle = self.start(queues, tasks)

        outcome = follow_move_task(queues.sqs, queues.arn(queues.dlq), handle, sleep=lambda _: None)

        assert outcome.status == "FAILED"
        assert outcome.failure_reason == "CouldNotDetermineMessageSource"
        assert outcome.moved == 3
        assert queues.depth(queues.dlq) == DEAD_LETTERS - 3

    def test_ctrl_c_cancels_the_task_and_keeps_the_rest_in_the_dlq(self, queues: Queues):
        tasks = MoveTasks(per_poll=2)
        handle = self.start(queues, tasks)
        sleeps = iter([None])

        def sleep(_: float) -> None:
            if next(sleeps, KeyboardInterrupt) is KeyboardInterrupt:
                raise KeyboardInterrupt

        with pytest.raises(MoveTaskInterruptedError) as interrupted:
            follow_move_task(queues.sqs, queues.arn(queues.dlq), handle, sleep=sleep)

        assert tasks.params_of("CancelMessageMoveTask") == [{"TaskHandle": handle}]
        assert interrupted.value.cancel_error is None
        assert interrupted.value.moved == 4
        assert tasks.tasks[-1].status == "CANCELLED"
        assert queues.depth(queues.dlq) == DEAD_LETTERS - 4
        assert isinstance(interrupted.value, KeyboardInterrupt)  # the CLI exits 130


class TestRedriveCommand:
    """``fanout dlq redrive NAME --wait``: the exit code and the words say how the task ended."""

    @pytest.fixture
    def command(self, queues: Queues, monkeypatch: pytest.MonkeyPatch) -> Any:
        def run(tasks: MoveTasks, *argv: str) -> int:
            connection = Connection(region="us-east-1")
            # The redrive starts the task on its single-attempt client, and the CLI
            # follows it on the shared one: both answer from the same fake tasks.
            tasks.install(connection.client("sqs"))
            tasks.install(connection.single_attempt_client("sqs"))
            consumer = ConsumerQueues(
                "orders",
                queues.source,
                queues.arn(queues.source),
                queues.dlq,
                queues.arn(queues.dlq),
            )
            hub = Hub(stack_name="fanout-hub", consumers=(consumer,))
            monkeypatch.setattr(cli, "connect", lambda _: (connection, hub))
            return main(["dlq", "redrive", "orders", *argv])

        return run

    def test_a_completed_task_exits_0_with_the_task_in_the_document(
        self, queues: Queues, command: Any, capsys: pytest.CaptureFixture[str]
    ):
        tasks = MoveTasks(per_poll=100)

        code = command(tasks, "--wait", "--json")

        captured = capsys.readouterr()
        document = json.loads(captured.out)
        assert code == 0
        # the default --rate, back to the consumer's own queue
        assert tasks.params_of("StartMessageMoveTask") == [
            {"SourceArn": queues.arn(queues.dlq), "MaxNumberOfMessagesPerSecond": 50}
        ]
        assert document["method"] == "move-task"
        assert document["task"]["Status"] == "COMPLETED"
        assert document["task"]["ApproximateNumberOfMessagesMoved"] == DEAD_LETTERS
        assert "completed: 5 message(s) moved" in captured.err
        assert queues.depth(queues.source) == DEAD_LETTERS

    def test_a_failed_task_exits_1_and_says_why(
        self, queues: Queues, command: Any, capsys: pytest.CaptureFixture[str]
    ):
        tasks = MoveTasks(per_poll=100, fail_after=2, failure_reason="KmsAccessDenied on source")

        code = command(tasks, "--wait", "--to", queues.other, "--rate", "10")

        err = capsys.readouterr().err
        assert code == 1
        assert tasks.params_of("StartMessageMoveTask") == [
            {
                "SourceArn": queues.arn(queues.dlq),
                "DestinationArn": queues.arn(queues.other),
                "MaxNumberOfMessagesPerSecond": 10,
            }
        ]
        assert "move task FAILED after 2 message(s): KmsAccessDenied on source" in err
        assert queues.dlq in err
        assert queues.depth(queues.dlq) == DEAD_LETTERS - 2

    def test_ctrl_c_while_waiting_cancels_the_task_and_exits_130(
        self, queues: Queues, command: Any, capsys: pytest.CaptureFixture[str]
    ):
        tasks = MoveTasks(per_poll=100, interrupt_on_poll=1)

        code = command(tasks, "--wait")

        err = capsys.readouterr().err
        assert code == 130
        (cancelled,) = tasks.params_of("CancelMessageMoveTask")
        assert cancelled["TaskHandle"] == tasks.tasks[-1].handle
        assert "cancelled" in err
        assert queues.depth(queues.dlq) == DEAD_LETTERS

    def test_access_denied_exits_1_and_moves_nothing(
        self, queues: Queues, command: Any, capsys: pytest.CaptureFixture[str]
    ):
        code = command(MoveTasks(start_error=("AccessDenied", 403)))

        assert code == 1
        assert "AccessDenied" in capsys.readouterr().err
        assert queues.depth(queues.dlq) == DEAD_LETTERS
        assert queues.depth(queues.source) == 0

    def test_without_the_move_task_the_loop_runs_and_the_output_says_why(
        self, queues: Queues, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ):
        connection = Connection(region="us-east-1")  # plain moto: no move task
        consumer = ConsumerQueues(
            "orders", queues.source, queues.arn(queues.source), queues.dlq, queues.arn(queues.dlq)
        )
        hub = Hub(stack_name="fanout-hub", consumers=(consumer,))
        monkeypatch.setattr(cli, "connect", lambda _: (connection, hub))

        code = main(["dlq", "redrive", "orders", "--rate", "0"])

        out = capsys.readouterr().out
        assert code == 0
        assert "receive/send/delete loop: the endpoint has no StartMessageMoveTask" in out
        assert f"moved {DEAD_LETTERS} message(s)" in out


class TestFifo:
    """A FIFO DLQ (``FifoMode=true``) is redriven with each message's group, in order, once."""

    @pytest.fixture
    def fifo(self, aws: None) -> Queues:
        queues = make_queues(boto3.client("sqs"), ".fifo")
        dead = RuntimeDlq(queues.sqs, queues.dlq)
        # Dead-lettered by the consumer runtime, as a FIFO consumer does: the source
        # message's group, and a deduplication id from its message id.
        for n in range(6):
            group = f"ORDER#{n % 2}"
            record = {
                "messageId": f"m-{n}",
                "body": json.dumps({"id": f"evt-{n}", "group": group}),
                "attributes": {"ApproximateReceiveCount": "3", "MessageGroupId": group},
                "messageAttributes": {},
                "eventSourceARN": queues.arn(queues.source),
            }
            dead.send(
                dead_letter_of(
                    record, consumer="orders", error=ValueError("boom"), envelope_id=f"evt-{n}"
                )
            )
        return queues

    def received(self, queues: Queues) -> list[dict[str, Any]]:
        return drain(queues.sqs, queues.source)

    def test_every_message_keeps_its_group_and_order_and_has_a_deduplication_id(self, fifo: Queues):
        dlq = ResolvedDlq("orders", fifo.dlq, "consumer", fifo.source)

        report = Redrive(fifo.sqs, dlq, fifo.source, rate=0).run()

        assert (report.method, report.moved, report.failed) == ("loop", 6, [])
        arrived = self.received(fifo)
        by_group: dict[str, list[str]] = {}
        for message in arrived:
            body = json.loads(message["Body"])
            assert message["Attributes"]["MessageGroupId"] == body["group"]
            assert message["Attributes"]["MessageDeduplicationId"]
            by_group.setdefault(body["group"], []).append(body["id"])
        assert by_group == {
            "ORDER#0": ["evt-0", "evt-2", "evt-4"],
            "ORDER#1": ["evt-1", "evt-3", "evt-5"],
        }
        assert fifo.depth(fifo.dlq) == 0

    def test_a_rerun_after_a_crash_between_send_and_delete_sends_no_duplicate(self, fifo: Queues):
        dlq = ResolvedDlq("orders", fifo.dlq, "consumer", fifo.source)
        crashing = boto3.client("sqs")

        def crash(**_: Any) -> None:
            raise ConnectionAbortedError("the operator's laptop went to sleep")

        crashing.meta.events.register("after-call.sqs.SendMessageBatch", crash)
        with pytest.raises(ConnectionAbortedError):
            Redrive(crashing, dlq, fifo.source, rate=0).run("loop")
        assert fifo.depth(fifo.dlq) == 6  # sent, not deleted

        Redrive(fifo.sqs, dlq, fifo.source, rate=0).run("loop")

        # The resend carries the same deduplication ids, so SQS keeps one copy of each.
        ids = sorted(json.loads(m["Body"])["id"] for m in self.received(fifo))
        assert ids == [f"evt-{n}" for n in range(6)]
        assert fifo.depth(fifo.dlq) == 0

    def test_a_move_task_is_not_asked_to_cross_queue_types(self, fifo: Queues):
        tasks = MoveTasks().install(fifo.sqs)
        standard = fifo.sqs.create_queue(QueueName="standard")["QueueUrl"]
        dlq = ResolvedDlq("orders", fifo.dlq, "consumer", fifo.source)

        with pytest.raises(ResolveError, match="both FIFO or both standard"):
            Redrive(fifo.sqs, dlq, standard).run("move-task")
        assert tasks.calls == []
