"""SQS's own message move task (StartMessageMoveTask): the codes it answers, following and cancelling it."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from botocore.exceptions import ClientError

from fanout.ops.output import NO_PROGRESS, Progress
from fanout.ops.resolve import ResolveError

# Error codes meaning "this endpoint has no move task": an unknown action (older
# LocalStack, other emulators), or SQS's UnsupportedOperation (the plain code, and the
# awsQueryCompatible spelling botocore reports for the JSON protocol). moto's server
# answers an unimplemented action with a bare HTML 500, which botocore reports with
# the status as its code: that is told apart from AWS's own 500 (code InternalError),
# which is raised like every other error. AccessDenied, KMS, throttling and
# not-found errors are raised too: a redrive the operator may not run must fail,
# not quietly take another path.
# https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_StartMessageMoveTask.html#API_StartMessageMoveTask_Errors
MOVE_TASK_UNAVAILABLE_CODES: Final = frozenset(
    {
        "UnsupportedOperation",
        "AWS.SimpleQueueService.UnsupportedOperation",
        "InvalidAction",
        "UnknownOperation",
        "UnknownOperationException",
        "NotImplemented",
        "500",
        "501",
    }
)
# https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_ListMessageMoveTasksResultEntry.html
MOVE_TASK_ACTIVE: Final = frozenset({"RUNNING", "CANCELLING"})
MOVE_TASK_FINAL: Final = frozenset({"COMPLETED", "CANCELLED", "FAILED"})
# https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_StartMessageMoveTask.html
MOVE_TASK_MAX_RATE: Final = 500


class MoveTaskUnavailableError(Exception):
    """The endpoint has no StartMessageMoveTask (the loop can do the redrive instead)."""


class MoveTaskRunningError(ResolveError):
    """The DLQ already has an active move task: SQS allows one per queue."""


class MoveTaskInterruptedError(KeyboardInterrupt):
    """Ctrl-C while following a move task, after trying to cancel it."""

    def __init__(self, task_handle: str, moved: int, cancel_error: str | None) -> None:
        self.task_handle = task_handle
        self.moved = moved
        self.cancel_error = cancel_error
        """None when CancelMessageMoveTask took the cancel."""
        super().__init__(
            f"move task {task_handle} cancelled after about {moved} message(s)"
            if cancel_error is None
            else f"move task {task_handle} could not be cancelled: {cancel_error}"
        )


@dataclass
class MoveTaskOutcome:
    """How a followed move task ended (the last ListMessageMoveTasks entry seen)."""

    task: dict[str, Any]

    @property
    def status(self) -> str:
        """RUNNING, COMPLETED, CANCELLING, CANCELLED or FAILED ("UNKNOWN" if never listed)."""
        return str(self.task.get("Status", "UNKNOWN"))

    @property
    def moved(self) -> int:
        """Approximately how many messages the task moved."""
        return int(self.task.get("ApproximateNumberOfMessagesMoved") or 0)

    @property
    def failure_reason(self) -> str | None:
        """Why a FAILED task failed, as SQS says it."""
        reason = self.task.get("FailureReason")
        return str(reason) if reason else None


def follow_move_task(
    sqs: Any,
    source_arn: str,
    task_handle: str,
    *,
    progress: Progress = NO_PROGRESS,
    poll_seconds: float = 2.0,
    timeout: float | None = None,
    sleep: Callable[[float], object] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> MoveTaskOutcome:
    """Poll ListMessageMoveTasks until the task ends, advancing ``progress`` as it moves.

    Ctrl-C (``KeyboardInterrupt``) cancels the task with CancelMessageMoveTask (what was
    moved stays moved, the rest stays in the DLQ) and is raised again. Returns the
    last entry seen: still RUNNING only when ``timeout`` passed.
    https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_ListMessageMoveTasks.html
    """
    deadline = None if timeout is None else clock() + timeout
    task: dict[str, Any] = {}
    moved = 0
    try:
        while True:
            # MaxResults=1: the most recent task, which is ours (one active per queue).
            results = sqs.list_message_move_tasks(SourceArn=source_arn, MaxResults=1)
            task = dict((results.get("Results") or [{}])[0])
            now_moved = int(task.get("ApproximateNumberOfMessagesMoved") or 0)
            if now_moved > moved:
                progress.advance(now_moved - moved)
                moved = now_moved
            if task.get("Status") in MOVE_TASK_FINAL:
                return MoveTaskOutcome(task)
            if deadline is not None and clock() >= deadline:
                return MoveTaskOutcome(task)
            sleep(poll_seconds)
    except KeyboardInterrupt as interrupt:
        # A task left running after Ctrl-C would keep moving messages nobody watches.
        # Cancelling keeps what was moved; the rest stays in the DLQ for a rerun.
        try:
            cancelled = sqs.cancel_message_move_task(TaskHandle=task_handle)
        except ClientError as exc:  # e.g. it ended meanwhile: only RUNNING can be cancelled
            raise MoveTaskInterruptedError(task_handle, moved, str(exc)) from interrupt
        moved = int(cancelled.get("ApproximateNumberOfMessagesMoved") or moved)
        raise MoveTaskInterruptedError(task_handle, moved, None) from interrupt
