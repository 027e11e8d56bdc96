"""Move a DLQ's messages back: SQS's move task when it can, else a paced receive-send-delete loop."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from botocore.exceptions import ClientError

from fanout.aws_rules.sqs import is_fifo_queue
from fanout.ops.dlq.decode import MessageFilter, decode
from fanout.ops.dlq.move_task import (
    MOVE_TASK_ACTIVE,
    MOVE_TASK_MAX_RATE,
    MOVE_TASK_UNAVAILABLE_CODES,
    MoveTaskRunningError,
    MoveTaskUnavailableError,
)
from fanout.ops.dlq.pack import pack_for_send, send_entry
from fanout.ops.dlq.peek import receive, release
from fanout.ops.dlq.queues import ResolvedDlq, same_queue
from fanout.ops.output import NO_PROGRESS, Progress
from fanout.ops.pacing import Retry, TokenBucket
from fanout.ops.resolve import ResolveError, queue_arn_of
from hubcommon.limits import SQS_SEND_BATCH_MAX_ENTRIES
from router.normalise import EntityRules


@dataclass
class RedriveReport:
    """What a redrive did (or, with ``dry_run``, would do)."""

    source: str
    destination: str
    method: Literal["move-task", "loop"]
    dry_run: bool = False
    moved: int = 0
    skipped: int = 0
    failed: list[dict[str, str]] = field(default_factory=list)
    task_handle: str | None = None
    would_move: list[str] = field(default_factory=list)
    interrupted: str | None = None
    loop_because: str | None = None
    """Why ``auto`` ran the loop instead of the move task (None: it was not considered)."""

    def as_dict(self) -> dict[str, Any]:
        """A plain dict (for JSON)."""
        return asdict(self)


class Redrive:
    """Moves a DLQ's messages to a queue, deleting each only after its copy was sent.

    A crash between the send and the delete leaves the message in the DLQ as well as in
    the destination: the next run sends it again (at-least-once; consumers de-duplicate
    by envelope id). Nothing is deleted before the destination acknowledged it.

    Every SQS call it makes goes through ``retry`` (backoff with full jitter, and the
    failed entries of a batch sent again): give it clients whose calls botocore does not
    retry as well (``Connection.single_attempt_client``), or each attempt multiplies.
    """

    def __init__(
        self,
        sqs: Any,
        source: ResolvedDlq,
        destination_url: str,
        *,
        rate: float = 50.0,
        message_filter: MessageFilter | None = None,
        dry_run: bool = False,
        limit: int | None = None,
        visibility_seconds: int = 120,
        retry: Retry | None = None,
        rules: EntityRules | None = None,
        destination_sqs: Any | None = None,
        bucket: TokenBucket | None = None,
        progress: Progress = NO_PROGRESS,
    ) -> None:
        self._sqs = sqs
        self._out = destination_sqs or sqs
        self.source = source
        self.destination_url = destination_url
        self._filter = message_filter or MessageFilter()
        self._dry_run = dry_run
        self._limit = limit
        self._visibility = visibility_seconds
        self._retry = retry or Retry()
        self._rules = rules
        self._bucket = bucket or TokenBucket(rate, burst=max(rate, SQS_SEND_BATCH_MAX_ENTRIES))
        self._rate = rate
        self._progress = progress
        self._fifo = is_fifo_queue(destination_url)

    # -------------------------------------------------------------- move task
    def move_task_blocker(self) -> str | None:
        """Why StartMessageMoveTask cannot do this redrive; None when it can.

        The task moves every message of a DLQ whose sources are SQS queues, to a queue
        of the same type (standard or FIFO), and cannot filter, count or list.
        https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-configure-dead-letter-queue-redrive.html
        """
        if self._dry_run:
            return "--dry-run lists each message, which a move task cannot"
        if self._filter.active:
            return "a move task moves every message: --type/--error need the loop"
        if self._limit:
            return "a move task cannot stop at --limit"
        if is_fifo_queue(self.source.url) != self._fifo:
            return "a move task needs the DLQ and the destination to be both FIFO or both standard"
        if not self._dead_letter_sources():
            return "a move task only moves from a queue that is the DLQ of another SQS queue"
        return None

    def can_use_move_task(self) -> bool:
        """True when StartMessageMoveTask can do this redrive (see ``move_task_blocker``)."""
        return self.move_task_blocker() is None

    def _dead_letter_sources(self) -> list[str]:
        if self.source.source_url:
            return [self.source.source_url]
        response = self._retry.call(
            lambda: self._sqs.list_dead_letter_source_queues(QueueUrl=self.source.url)
        )
        return list(response.get("queueUrls", []))

    def _move_task_call(self, operation: str, **arguments: Any) -> dict[str, Any]:
        """One move-task API call; ``MoveTaskUnavailableError`` when the endpoint lacks it."""
        try:
            return dict(self._retry.call(lambda: getattr(self._sqs, operation)(**arguments)))
        except NotImplementedError as exc:  # moto in decorator mode raises it in-process
            raise MoveTaskUnavailableError(str(exc)) from exc
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in MOVE_TASK_UNAVAILABLE_CODES:
                raise MoveTaskUnavailableError(f"{code}: {exc}") from exc
            raise

    def start_move_task(self) -> str:
        """Start SQS's own move task and return its handle.

        Raises ``MoveTaskUnavailableError`` when the endpoint does not implement it,
        ``MoveTaskRunningError`` when the DLQ already has an active task (one per queue),
        and any other ``ClientError`` (AccessDenied...) as it is.
        https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_StartMessageMoveTask.html
        """
        source_arn = self._retry.call(lambda: queue_arn_of(self._sqs, self.source.url))
        latest = self._move_task_call("list_message_move_tasks", SourceArn=source_arn)
        for task in latest.get("Results", [])[:1]:
            if task.get("Status") in MOVE_TASK_ACTIVE:
                raise MoveTaskRunningError(
                    f"a move task is already {task.get('Status')} on {self.source.url} "
                    f"(moved {task.get('ApproximateNumberOfMessagesMoved', 0)} so far): SQS "
                    "runs one per queue; wait for it to finish or cancel it"
                )
        arguments: dict[str, Any] = {"SourceArn": source_arn}
        sources = self._dead_letter_sources()
        if not (len(sources) == 1 and same_queue(sources[0], self.destination_url)):
            # Left out, SQS returns each message to the queue it came from: the same as
            # naming the DLQ's only source, and still right if it gains another one.
            arguments["DestinationArn"] = self._retry.call(
                lambda: queue_arn_of(self._sqs, self.destination_url)
            )
        if self._rate > 0:
            # Left out, SQS picks the rate from the backlog; at most 500 per second.
            arguments["MaxNumberOfMessagesPerSecond"] = max(
                1, min(MOVE_TASK_MAX_RATE, int(self._rate))
            )
        started = self._move_task_call("start_message_move_task", **arguments)
        return str(started["TaskHandle"])

    def run(self, method: Literal["auto", "move-task", "loop"] = "auto") -> RedriveReport:
        """Redrive; ``auto`` uses the move task when it can and the endpoint has it.

        With ``move-task``, ``ResolveError`` says why the move task cannot be used.
        """
        loop_because: str | None = None
        if method != "loop":
            loop_because = self.move_task_blocker()
            if loop_because is None:
                try:
                    handle = self.start_move_task()
                except MoveTaskUnavailableError as exc:
                    loop_because = f"the endpoint has no StartMessageMoveTask ({exc})"
                else:
                    return RedriveReport(
                        self.source.url, self.destination_url, "move-task", task_handle=handle
                    )
            if method == "move-task":
                raise ResolveError(f"cannot use StartMessageMoveTask: {loop_because}")
        report = self._loop()
        report.loop_because = loop_because
        return report

    # -------------------------------------------------------------- loop
    def _loop(self) -> RedriveReport:
        report = RedriveReport(self.source.url, self.destination_url, "loop", dry_run=self._dry_run)
        held: dict[str, str] = {}  # message id -> receipt handle, released at the end
        try:
            empty = 0
            while empty < 2 and not self._limit_reached(report):  # noqa: PLR2004
                batch = self._retry.call(
                    lambda: receive(self._sqs, self.source.url, self._visibility)
                )
                fresh = [m for m in batch if m["MessageId"] not in held]
                for message in batch:
                    if message["MessageId"] in held:
                        held[message["MessageId"]] = message["ReceiptHandle"]
                empty = 0 if fresh else empty + 1
                chosen: list[dict[str, Any]] = []
                for message in fresh:
                    decoded = decode(message, self.source.kind, self._rules)
                    if not self._filter.matches(decoded) or self._limit_reached(
                        report, len(chosen)
                    ):
                        report.skipped += 1
                        held[message["MessageId"]] = message["ReceiptHandle"]
                    elif self._dry_run:
                        report.would_move.append(decoded.envelope_id or decoded.message_id)
                        held[message["MessageId"]] = message["ReceiptHandle"]
                    else:
                        chosen.append(message)
                for group in pack_for_send(chosen):
                    # Until sent and deleted, a chosen message is ours to give back.
                    for message in group:
                        held[message["MessageId"]] = message["ReceiptHandle"]
                    self._move(group, report, held)
        except BaseException as exc:
            report.interrupted = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            self._retry.call(lambda: release(self._sqs, self.source.url, held.values()))
        return report

    def _limit_reached(self, report: RedriveReport, pending: int = 0) -> bool:
        if not self._limit:
            return False
        done = report.moved + len(report.would_move) + pending
        return done >= self._limit

    def _move(
        self, group: list[dict[str, Any]], report: RedriveReport, held: dict[str, str]
    ) -> None:
        self._bucket.take(len(group))
        pending = dict(enumerate(group))
        attempt = 0
        sent: list[dict[str, Any]] = []
        while pending:
            response = self._retry.call(
                lambda: self._out.send_message_batch(
                    QueueUrl=self.destination_url,
                    Entries=[send_entry(i, m, fifo=self._fifo) for i, m in pending.items()],
                )
            )
            sent.extend(pending.pop(int(ok["Id"])) for ok in response.get("Successful", []))
            retry_later = False
            for bad in response.get("Failed", []):
                if bad.get("SenderFault"):
                    message = pending.pop(int(bad["Id"]))
                    report.failed.append(
                        {
                            "message_id": str(message["MessageId"]),
                            "reason": f"{bad.get('Code')}: {bad.get('Message', '')}",
                        }
                    )
                else:
                    retry_later = True
            if pending and retry_later:
                if attempt + 1 >= self._retry.attempts:
                    for message in pending.values():
                        report.failed.append(
                            {
                                "message_id": str(message["MessageId"]),
                                "reason": "send kept failing",
                            }
                        )
                    break
                self._retry.sleep(self._retry.backoff.delay(attempt))
                attempt += 1
        if sent:
            self._delete(sent)
            for message in sent:
                held.pop(message["MessageId"], None)
            report.moved += len(sent)
            self._progress.advance(len(sent))

    def _delete(self, messages: list[dict[str, Any]]) -> None:
        entries = [
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)
        ]
        response = self._retry.call(
            lambda: self._sqs.delete_message_batch(QueueUrl=self.source.url, Entries=entries)
        )
        # A delete that fails leaves a copy in the DLQ: the next run sends it again
        # (a duplicate, never a loss).
        _ = response.get("Failed", [])
