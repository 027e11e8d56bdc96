"""SQS message move tasks for an endpoint that has none (moto): a stand-in behind botocore hooks.

moto implements neither StartMessageMoveTask nor ListMessageMoveTasks nor
CancelMessageMoveTask. ``MoveTasks.install(client)`` answers those three on that
client (a ``before-call`` hook returns the response, so the request never leaves the
process) and passes every other call through to moto. A started task really moves
messages, with the same client's ReceiveMessage / SendMessage / DeleteMessage, a few
per ListMessageMoveTasks poll, so a caller sees progress and then the moved messages.

The answers follow the API reference:
https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_StartMessageMoveTask.html
https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_ListMessageMoveTasksResultEntry.html
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

OPERATIONS = ("StartMessageMoveTask", "ListMessageMoveTasks", "CancelMessageMoveTask")


@dataclass
class _Http:
    """Enough of a botocore HTTP response for ``BaseClient._make_api_call``."""

    status_code: int
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Task:
    """One move task, as ListMessageMoveTasks reports it."""

    handle: str
    source_arn: str
    destination_arn: str | None
    rate: int | None
    to_move: int
    started: int
    status: str = "RUNNING"
    moved: int = 0
    failure_reason: str | None = None

    def entry(self) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "SourceArn": self.source_arn,
            "Status": self.status,
            "ApproximateNumberOfMessagesMoved": self.moved,
            "ApproximateNumberOfMessagesToMove": self.to_move,
            "StartedTimestamp": self.started,
        }
        if self.status == "RUNNING":
            entry["TaskHandle"] = self.handle
        if self.destination_arn:
            entry["DestinationArn"] = self.destination_arn
        if self.rate is not None:
            entry["MaxNumberOfMessagesPerSecond"] = self.rate
        if self.failure_reason:
            entry["FailureReason"] = self.failure_reason
        return entry


class MoveTasks:
    """The three move-task operations on one client; every call's parameters are kept.

    ``per_poll``: messages moved per ListMessageMoveTasks call. ``fail_after``: the
    task FAILS with ``failure_reason`` once it moved that many. ``start_error``: an
    error code StartMessageMoveTask answers instead (e.g. ``AccessDenied``).
    ``interrupt_on_poll``: that ListMessageMoveTasks poll of a started task raises
    ``KeyboardInterrupt`` (an operator's Ctrl-C arriving mid-call).
    """

    def __init__(
        self,
        *,
        per_poll: int = 2,
        fail_after: int | None = None,
        failure_reason: str = "CouldNotDetermineMessageSource",
        start_error: tuple[str, int] | None = None,
        interrupt_on_poll: int | None = None,
    ) -> None:
        self.per_poll = per_poll
        self.fail_after = fail_after
        self.failure_reason = failure_reason
        self.start_error = start_error
        self.interrupt_on_poll = interrupt_on_poll
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.tasks: list[Task] = []
        self._client: Any = None
        self._params: dict[str, dict[str, Any]] = {}
        self._polls = 0

    # ------------------------------------------------------------ wiring
    def install(self, client: Any) -> MoveTasks:
        """Answer the move-task operations on ``client``."""
        self._client = client
        for operation in OPERATIONS:
            client.meta.events.register(
                f"before-parameter-build.sqs.{operation}", self._keep_params
            )
            client.meta.events.register(f"before-call.sqs.{operation}", self._answer)
        return self

    def _keep_params(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        self._params[model.name] = dict(params)

    def _answer(self, model: Any, **_: Any) -> tuple[_Http, dict[str, Any]]:
        params = self._params.pop(model.name)
        self.calls.append((model.name, params))
        handler = {
            "StartMessageMoveTask": self._start,
            "ListMessageMoveTasks": self._list,
            "CancelMessageMoveTask": self._cancel,
        }[model.name]
        return handler(params)

    @staticmethod
    def _ok(body: dict[str, Any]) -> tuple[_Http, dict[str, Any]]:
        return _Http(200), {**body, "ResponseMetadata": {"HTTPStatusCode": 200}}

    @staticmethod
    def _error(code: str, status: int, message: str) -> tuple[_Http, dict[str, Any]]:
        return _Http(status), {
            "Error": {"Code": code, "Message": message},
            "ResponseMetadata": {"HTTPStatusCode": status},
        }

    # ------------------------------------------------------------ what callers see
    def params_of(self, operation: str) -> list[dict[str, Any]]:
        """The parameters of every call of ``operation``, in order."""
        return [params for name, params in self.calls if name == operation]

    def running(self, source_arn: str) -> Task:
        """Pretend another operator's task is running on ``source_arn``."""
        task = Task("someone-else", source_arn, None, None, 5, int(time.time() * 1000))
        self.tasks.append(task)
        return task

    # ------------------------------------------------------------ the operations
    def _url(self, arn: str) -> str:
        _, _, _, _, account, name = arn.split(":", 5)
        return str(
            self._client.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"]
        )

    def _start(self, params: dict[str, Any]) -> tuple[_Http, dict[str, Any]]:
        if self.start_error:
            code, status = self.start_error
            return self._error(code, status, f"{code} for StartMessageMoveTask")
        source = params["SourceArn"]
        if any(t.source_arn == source and t.status == "RUNNING" for t in self.tasks):
            return self._error("UnsupportedOperation", 400, "a task is already running")
        depth = self._client.get_queue_attributes(
            QueueUrl=self._url(source), AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]["ApproximateNumberOfMessages"]
        task = Task(
            handle=f"task-{uuid.uuid4()}",
            source_arn=source,
            destination_arn=params.get("DestinationArn"),
            rate=params.get("MaxNumberOfMessagesPerSecond"),
            to_move=int(depth),
            started=int(time.time() * 1000),
        )
        self.tasks.append(task)
        return self._ok({"TaskHandle": task.handle})

    def _list(self, params: dict[str, Any]) -> tuple[_Http, dict[str, Any]]:
        mine = [t for t in self.tasks if t.source_arn == params["SourceArn"]]
        if mine and mine[-1].status == "RUNNING" and mine[-1].handle != "someone-else":
            self._polls += 1
            if self._polls == self.interrupt_on_poll:
                raise KeyboardInterrupt
            self._advance(mine[-1])
        limit = int(params.get("MaxResults", 1))
        return self._ok({"Results": [t.entry() for t in reversed(mine)][:limit]})

    def _cancel(self, params: dict[str, Any]) -> tuple[_Http, dict[str, Any]]:
        task = next((t for t in self.tasks if t.handle == params["TaskHandle"]), None)
        if task is None:
            return self._error("ResourceNotFoundException", 400, "no such task")
        if task.status != "RUNNING":
            return self._error("UnsupportedOperation", 400, f"the task is {task.status}")
        task.status = "CANCELLED"
        return self._ok({"ApproximateNumberOfMessagesMoved": task.moved})

    def _advance(self, task: Task) -> None:
        source = self._url(task.source_arn)
        if task.destination_arn:
            destination = self._url(task.destination_arn)
        else:  # back to the DLQ's own source queue
            (destination,) = self._client.list_dead_letter_source_queues(QueueUrl=source)[
                "queueUrls"
            ]
        for _ in range(self.per_poll):
            if self.fail_after is not None and task.moved >= self.fail_after:
                task.status, task.failure_reason = "FAILED", self.failure_reason
                return
            batch = self._client.receive_message(
                QueueUrl=source, MaxNumberOfMessages=1, MessageAttributeNames=["All"]
            ).get("Messages", [])
            if not batch:
                task.status = "COMPLETED"
                return
            (message,) = batch
            attributes = {
                name: {k: v for k, v in value.items() if k in ("DataType", "StringValue")}
                for name, value in message.get("MessageAttributes", {}).items()
            }
            self._client.send_message(
                QueueUrl=destination, MessageBody=message["Body"], MessageAttributes=attributes
            )
            self._client.delete_message(QueueUrl=source, ReceiptHandle=message["ReceiptHandle"])
            task.moved += 1
