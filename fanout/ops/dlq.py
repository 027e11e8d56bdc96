"""Read dead-letter queues without consuming them, and move their messages back.

Two kinds of dead letters exist (see ``consumers/runtime/deadletter.py`` and
``router/deadletter.py``):

- a consumer DLQ message is the original SQS body (the envelope) with the original
  message attributes, plus ``fanout-error-type``, ``fanout-error`` and
  ``fanout-origin`` when the runtime dead-lettered it; a message the queue's redrive
  policy moved after ``maxReceiveCount`` receives carries no error attributes;
- a router DLQ message is a JSON "dead letter": ``reason``, ``error``, ``failed_at``,
  ``sequence_number`` and the stream ``record`` (or ``record_ref`` in S3 when large).
  Router dead letters are replayed with ``fanout replay poison``, not redriven.

Peeking receives with a short visibility timeout and then sets each message's
visibility back to 0. The trade-off (docs/operations.md): a receive with
``VisibilityTimeout=0`` would leave messages visible, so one pass could return the
same message many times and never walk the whole queue; hiding them while the pass
runs walks each message once. The price: every peek adds one to each message's
``ApproximateReceiveCount`` and hides it from other readers for a few seconds. On a
DLQ (no redrive policy of its own) the count has no effect; on a source queue it
counts towards ``maxReceiveCount``, so peeking a queue with a redrive policy needs
``--force``.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Final, Literal

from botocore.exceptions import ClientError

from fanout.aws_rules.sqs import is_fifo_queue
from fanout.connection import queue_url_of
from fanout.ops.output import NO_PROGRESS, Progress, iso
from fanout.ops.pacing import Retry, TokenBucket
from fanout.ops.resolve import (
    ROUTER_DLQ_NAME,
    Hub,
    ResolveError,
    queue_arn_of,
)
from hubcommon.limits import SQS_MAX_MESSAGE_BYTES, SQS_SEND_BATCH_MAX_ENTRIES
from router.errors import PoisonRecordError
from router.normalise import EntityRules, to_outbound

# https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_ReceiveMessage.html
SQS_RECEIVE_MAX_MESSAGES: Final = 10
ERROR_TYPE: Final = "fanout-error-type"
ERROR_TEXT: Final = "fanout-error"
ORIGIN: Final = "fanout-origin"
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

Kind = Literal["consumer", "router", "queue"]


@dataclass(frozen=True, slots=True)
class DeadLetterQueue:
    """A DLQ to read: where it is, what writes to it, and where its messages came from."""

    name: str
    url: str
    kind: Kind
    source_url: str | None = None
    """The queue whose redrive policy targets this DLQ (a redrive's default destination)."""


def dead_letter_queue(hub: Hub, sqs: Any, name: str) -> DeadLetterQueue:
    """``router``, a consumer's name, or a queue name/ARN/URL, as a ``DeadLetterQueue``."""
    if name == ROUTER_DLQ_NAME:
        return DeadLetterQueue(name, hub.need("router_dlq_url", "--router-dlq-url"), "router")
    for consumer in hub.consumers:
        if consumer.name == name:
            return DeadLetterQueue(name, consumer.dlq_url, "consumer", consumer.queue_url)
    try:
        url = queue_url_of(sqs, name)
    except ClientError as exc:
        known = ", ".join([ROUTER_DLQ_NAME, *(c.name for c in hub.consumers)])
        raise ResolveError(f"{name!r} is not a consumer ({known}) nor a queue: {exc}") from exc
    if hub.router_dlq_url and same_queue(url, hub.router_dlq_url):
        return DeadLetterQueue(ROUTER_DLQ_NAME, url, "router")

    for consumer in hub.consumers:
        if same_queue(url, consumer.dlq_url):
            return DeadLetterQueue(consumer.name, consumer.dlq_url, "consumer", consumer.queue_url)
    sources = sqs.list_dead_letter_source_queues(QueueUrl=url).get("queueUrls", [])
    return DeadLetterQueue(name, url, "queue", sources[0] if len(sources) == 1 else None)


def same_queue(a: str, b: str) -> bool:
    """True when two queue URLs name the same queue.

    Stack outputs and ListQueues may spell a queue's URL differently (moto's host vs.
    the service's): the account and queue name identify it.
    """
    return a.split("/")[-2:] == b.split("/")[-2:]


def destination_url(hub: Hub, sqs: Any, name: str) -> str:
    """``--to``: a consumer's name (its queue) or a queue name/ARN/URL."""
    for consumer in hub.consumers:
        if consumer.name == name:
            return consumer.queue_url
    return queue_url_of(sqs, name)


# ---------------------------------------------------------------------------- decoding


@dataclass(frozen=True, slots=True)
class DeadMessage:
    """One DLQ message, decoded for people."""

    message_id: str
    kind: Kind
    type: str | None
    envelope_id: str | None
    subject: str | None
    receive_count: int | None
    error_type: str | None
    error: str | None
    first_seen: str | None
    """When the message was first sent to a queue (SentTimestamp; a redrive keeps it)."""
    dead_lettered_at: str | None
    sequence_number: str | None = None
    consumer: str | None = None
    claim_check: str | None = None

    def as_row(self) -> dict[str, Any]:
        """A plain dict (for tables and JSON)."""
        return asdict(self)


def _attribute(message: Mapping[str, Any], name: str) -> str | None:
    value = (message.get("MessageAttributes") or {}).get(name) or {}
    text = value.get("StringValue")
    return str(text) if text is not None else None


def _sent_at(message: Mapping[str, Any]) -> str | None:
    sent = (message.get("Attributes") or {}).get("SentTimestamp")
    return iso(int(sent) / 1000) if sent else None


def _receives(message: Mapping[str, Any]) -> int | None:
    count = (message.get("Attributes") or {}).get("ApproximateReceiveCount")
    return int(count) if count else None


def envelope_of(body: str) -> dict[str, Any] | None:
    """The envelope in a queue body (raw delivery, or an SNS notification wrapping it)."""
    try:
        document = json.loads(body)
    except ValueError:
        return None
    if isinstance(document, dict) and document.get("Type") == "Notification":
        try:
            document = json.loads(str(document.get("Message", "")))
        except ValueError:
            return None
    return document if isinstance(document, dict) and "type" in document else None


def decode_consumer_message(message: Mapping[str, Any]) -> DeadMessage:
    """A consumer DLQ message: its envelope, and the error the runtime recorded (if any)."""
    envelope = envelope_of(str(message.get("Body", ""))) or {}
    origin: dict[str, Any] = {}
    if text := _attribute(message, ORIGIN):
        try:
            origin = dict(json.loads(text))
        except (ValueError, TypeError):
            origin = {}
    error_type, error = _attribute(message, ERROR_TYPE), _attribute(message, ERROR_TEXT)
    receives = origin.get("receiveCount")
    if error_type is None and error is None:
        # Moved by the queue's redrive policy: the receive count is the evidence.
        error_type = "maxReceiveCount"
        error = "the queue's redrive policy moved it after repeated failed receives"
    return DeadMessage(
        message_id=str(message["MessageId"]),
        kind="consumer",
        type=envelope.get("type"),
        envelope_id=envelope.get("id"),
        subject=envelope.get("subject"),
        receive_count=int(receives) if receives is not None else _receives(message),
        error_type=error_type,
        error=error,
        first_seen=_sent_at(message),
        dead_lettered_at=origin.get("deadLetteredAt"),
        sequence_number=envelope.get("sequence"),
        consumer=origin.get("consumer"),
        claim_check=envelope.get("dataref"),
    )


def decode_router_message(
    message: Mapping[str, Any], rules: EntityRules | None = None
) -> DeadMessage:
    """A router DLQ message: the dead letter's error, and what the record would route as now."""
    try:
        letter = json.loads(str(message.get("Body", "")))
    except ValueError:
        letter = {}
    if not isinstance(letter, dict):
        letter = {}
    error = letter.get("error") or {}
    record = letter.get("record")
    kind_of_record = event_type = envelope_id = subject = None
    if isinstance(record, dict):
        kind_of_record = str(record.get("eventName") or "?")
        try:
            outbound = to_outbound(record, rules or EntityRules())
        except PoisonRecordError:
            keys = (record.get("dynamodb") or {}).get("Keys")
            subject = json.dumps(keys, sort_keys=True) if keys is not None else None
        else:
            event_type, envelope_id, subject = (
                outbound.type,
                outbound.envelope_id,
                outbound.subject,
            )
    return DeadMessage(
        message_id=str(message["MessageId"]),
        kind="router",
        type=event_type or (f"({kind_of_record} record)" if kind_of_record else None),
        envelope_id=envelope_id,
        subject=subject,
        receive_count=_receives(message),
        error_type=f"{letter.get('reason', '?')}: {error.get('kind', '?')}",
        error=error.get("message"),
        first_seen=_sent_at(message),
        dead_lettered_at=letter.get("failed_at"),
        sequence_number=letter.get("sequence_number"),
        claim_check=letter.get("record_ref"),
    )


def decode(message: Mapping[str, Any], kind: Kind, rules: EntityRules | None = None) -> DeadMessage:
    """Decode by the kind of DLQ the message sits in."""
    if kind == "router":
        return decode_router_message(message, rules)
    decoded = decode_consumer_message(message)
    return decoded if kind == "consumer" else _as_kind(decoded, kind)


def _as_kind(decoded: DeadMessage, kind: Kind) -> DeadMessage:
    values = decoded.as_row()
    values["kind"] = kind
    return DeadMessage(**values)


@dataclass(frozen=True, slots=True)
class MessageFilter:
    """``--type`` (a glob such as ``order.*``) and ``--error`` (text, case-insensitive)."""

    type_pattern: str | None = None
    error_text: str | None = None

    @property
    def active(self) -> bool:
        """True when anything is filtered."""
        return bool(self.type_pattern or self.error_text)

    def matches(self, message: DeadMessage) -> bool:
        """True when the message passes every given filter."""
        if self.type_pattern and not fnmatch.fnmatchcase(message.type or "", self.type_pattern):
            return False
        if self.error_text:
            text = f"{message.error_type or ''}: {message.error or ''}".lower()
            if self.error_text.lower() not in text:
                return False
        return True


# ---------------------------------------------------------------------------- peek


def _receive(sqs: Any, url: str, visibility: int, wait: int = 0) -> list[dict[str, Any]]:
    return list(
        sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=SQS_RECEIVE_MAX_MESSAGES,
            VisibilityTimeout=visibility,
            WaitTimeSeconds=wait,
            MessageAttributeNames=["All"],
            MessageSystemAttributeNames=["All"],
        ).get("Messages", [])
    )


def release(sqs: Any, url: str, receipts: Iterable[str]) -> None:
    """Make received messages visible again at once (ChangeMessageVisibility to 0)."""
    handles = list(receipts)
    for start in range(0, len(handles), SQS_SEND_BATCH_MAX_ENTRIES):
        chunk = handles[start : start + SQS_SEND_BATCH_MAX_ENTRIES]
        sqs.change_message_visibility_batch(
            QueueUrl=url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": h, "VisibilityTimeout": 0}
                for i, h in enumerate(chunk)
            ],
        )


def peek(
    sqs: Any,
    queue: DeadLetterQueue,
    *,
    limit: int = 100,
    message_filter: MessageFilter | None = None,
    visibility_seconds: int = 30,
    rules: EntityRules | None = None,
) -> list[DeadMessage]:
    """Up to ``limit`` matching messages, decoded; every message is left on the queue."""
    message_filter = message_filter or MessageFilter()
    seen: dict[str, dict[str, Any]] = {}
    found: list[DeadMessage] = []
    try:
        empty = 0
        while len(found) < limit and empty < 2:  # noqa: PLR2004 - two empty short polls
            batch = _receive(sqs, queue.url, visibility_seconds)
            fresh = [m for m in batch if m["MessageId"] not in seen]
            empty = 0 if fresh else empty + 1
            for message in batch:
                seen[message["MessageId"]] = message
            for message in fresh:
                decoded = decode(message, queue.kind, rules)
                if message_filter.matches(decoded) and len(found) < limit:
                    found.append(decoded)
    finally:
        release(sqs, queue.url, (m["ReceiptHandle"] for m in seen.values()))
    return found


# ---------------------------------------------------------------------------- redrive


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


def sendable_attributes(message: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The received message attributes in SendMessage's shape (every one kept)."""
    out: dict[str, dict[str, Any]] = {}
    for name, value in (message.get("MessageAttributes") or {}).items():
        attribute: dict[str, Any] = {"DataType": value.get("DataType", "String")}
        if "StringValue" in value:
            attribute["StringValue"] = value["StringValue"]
        elif "BinaryValue" in value:
            attribute["BinaryValue"] = value["BinaryValue"]
        else:
            continue
        out[name] = attribute
    return out


def _size(message: Mapping[str, Any]) -> int:
    size = len(str(message.get("Body", "")).encode("utf-8"))
    for name, value in (message.get("MessageAttributes") or {}).items():
        payload = value.get("StringValue") or value.get("BinaryValue") or ""
        size += len(name) + len(value.get("DataType", "")) + len(payload)
    return size


def pack_for_send(messages: Sequence[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """SendMessageBatch groups: at most 10 entries and 256 KiB per call, order kept."""
    batches: list[list[dict[str, Any]]] = []
    current: list[dict[str, Any]] = []
    current_bytes = 0
    for message in messages:
        size = _size(message)
        if current and (
            len(current) == SQS_SEND_BATCH_MAX_ENTRIES
            or current_bytes + size > SQS_MAX_MESSAGE_BYTES
        ):
            batches.append(current)
            current, current_bytes = [], 0
        current.append(message)
        current_bytes += size
    if current:
        batches.append(current)
    return batches


def _entry(index: int, message: Mapping[str, Any], *, fifo: bool) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "Id": str(index),
        "MessageBody": message["Body"],
        "MessageAttributes": sendable_attributes(message),
    }
    if fifo:
        system = message.get("Attributes") or {}
        entry["MessageGroupId"] = system.get("MessageGroupId") or "redrive"
        entry["MessageDeduplicationId"] = (
            system.get("MessageDeduplicationId")
            or hashlib.sha256(str(message["MessageId"]).encode()).hexdigest()
        )
    return entry


class Redrive:
    """Moves a DLQ's messages to a queue, deleting each only after its copy was sent.

    A crash between the send and the delete leaves the message in the DLQ as well as in
    the destination: the next run sends it again (at-least-once; consumers de-duplicate
    by envelope id). Nothing is deleted before the destination acknowledged it.
    """

    def __init__(
        self,
        sqs: Any,
        source: DeadLetterQueue,
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
        response = self._sqs.list_dead_letter_source_queues(QueueUrl=self.source.url)
        return list(response.get("queueUrls", []))

    def _move_task_call(self, operation: str, **arguments: Any) -> dict[str, Any]:
        """One move-task API call; ``MoveTaskUnavailableError`` when the endpoint lacks it."""
        try:
            return dict(getattr(self._sqs, operation)(**arguments))
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
        source_arn = queue_arn_of(self._sqs, self.source.url)
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
            arguments["DestinationArn"] = queue_arn_of(self._sqs, self.destination_url)
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
                batch = _receive(self._sqs, self.source.url, self._visibility)
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
            release(self._sqs, self.source.url, held.values())
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
                    Entries=[_entry(i, m, fifo=self._fifo) for i, m in pending.items()],
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
