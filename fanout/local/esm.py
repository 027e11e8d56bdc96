"""The event-source-mapping emulator: every mapping of the stack, polled in this process.

``Emulator`` takes the functions and mappings (from the template, via
``fanout.local.hub``), an Invoker, and boto3 clients for any endpoint, and runs
one poller per stream shard and per queue mapping until stopped.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Self

from fanout.aws_rules import check_visibility_timeout
from fanout.connection import Connection, queue_url_of
from fanout.local.failure import FailureDestination
from fanout.local.invoker import Invoker
from fanout.local.model import FunctionSpec, MappingSpec, SourceKind
from fanout.local.observe import Observer, ignore
from fanout.local.queues import QueuePoller, QueueSettings
from fanout.local.streams import ShardReader, StreamMapping, StreamSettings, TtlMarks


@dataclass(frozen=True, slots=True)
class EmulatorSettings:
    """Local pacing for both source kinds."""

    stream: StreamSettings = field(default_factory=StreamSettings)
    queue: QueueSettings = field(default_factory=QueueSettings)


class Emulator:
    """Runs every enabled mapping until ``stop``; start/stop are idempotent."""

    def __init__(
        self,
        functions: Iterable[FunctionSpec],
        mappings: Iterable[MappingSpec],
        clients: Connection,
        invoker: Invoker,
        *,
        settings: EmulatorSettings | None = None,
        observer: Observer = ignore,
        reader_factory: Callable[[MappingSpec, str], ShardReader] | None = None,
    ) -> None:
        self.functions = {f.name: f for f in functions}
        self.mappings = [m for m in mappings if m.enabled]
        self.clients = clients
        self.invoker = invoker
        self.settings = settings or EmulatorSettings()
        self.observer = observer
        self.ttl_marks = TtlMarks()
        self.streams: dict[str, StreamMapping] = {}
        self.queues: dict[str, QueuePoller] = {}
        self._reader_factory = reader_factory
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        for mapping in self.mappings:
            if mapping.function not in self.functions:
                raise ValueError(
                    f"mapping on {mapping.source_arn} names unknown {mapping.function!r}"
                )

    def start(self) -> None:
        """Create the pollers and start their threads.

        Raises ``AwsRuleError`` before starting any, as Lambda refuses to create the
        mapping, when a queue's visibility timeout is shorter than its function's timeout.
        """
        if self._threads:
            return
        self._check_visibility_timeouts()
        self._stop.clear()
        for mapping in self.mappings:
            function = self.functions[mapping.function]
            if mapping.kind is SourceKind.DYNAMODB_STREAM:
                self._start_stream(mapping, function)
            else:
                self._start_queue(mapping, function)

    def _check_visibility_timeouts(self) -> None:
        sqs = self.clients.client("sqs")
        for mapping in self.mappings:
            if mapping.kind is not SourceKind.SQS_QUEUE:
                continue
            url = queue_url_of(sqs, mapping.source_arn)
            attributes = sqs.get_queue_attributes(
                QueueUrl=url, AttributeNames=["VisibilityTimeout"]
            )["Attributes"]
            check_visibility_timeout(
                int(attributes["VisibilityTimeout"]),
                self.functions[mapping.function].timeout_seconds,
                f"{mapping.function} mapping",
            )

    def _start_stream(self, mapping: MappingSpec, function: FunctionSpec) -> None:
        destination = (
            FailureDestination(
                mapping.on_failure_destination, self.clients, mapping.uuid or "local"
            )
            if mapping.on_failure_destination
            else None
        )
        factory = self._reader_factory
        stream = StreamMapping(
            mapping=mapping,
            function=function,
            streams_client=self.clients.client("dynamodbstreams"),
            invoker=self.invoker,
            observer=self.observer,
            settings=self.settings.stream,
            destination=destination,
            ttl_marks=self.ttl_marks,
            reader_factory=(lambda shard: factory(mapping, shard)) if factory else None,
        )
        self.streams[mapping.source_arn + "|" + function.name] = stream
        stream.discover(self._stop)
        thread = threading.Thread(
            target=self._rediscover, args=(stream,), name="esm-shards", daemon=True
        )
        thread.start()
        self._threads.append(thread)

    def _rediscover(self, stream: StreamMapping) -> None:
        # New shards appear as DynamoDB splits them; children start once parents finish.
        while not self._stop.wait(1.0):
            try:
                stream.discover(self._stop)
            except Exception:  # noqa: BLE001, S112 - a transient describe error: try again next tick  # nosec B112
                continue

    def _start_queue(self, mapping: MappingSpec, function: FunctionSpec) -> None:
        sqs = self.clients.client("sqs")
        poller = QueuePoller(
            mapping,
            function,
            sqs,
            queue_url_of(sqs, mapping.source_arn),
            self.invoker,
            observer=self.observer,
            settings=self.settings.queue,
        )
        self.queues[mapping.source_arn] = poller
        thread = threading.Thread(
            target=poller.run, args=(self._stop,), name=f"esm-{function.name}", daemon=True
        )
        thread.start()
        self._threads.append(thread)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop polling and wait for in-flight batches to finish."""
        self._stop.set()
        deadline = time.monotonic() + timeout
        for stream in self.streams.values():
            stream.join(max(0.0, deadline - time.monotonic()))
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._threads.clear()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def inject(self, stream_arn: str, record: Mapping[str, Any]) -> None:
        """Deliver a Lambda-format record on a stream as if it had been read from it.

        For records DynamoDB can never store (a poison record for the router).
        """
        targets = [s for s in self.streams.values() if s.mapping.source_arn == stream_arn]
        if not targets:
            raise KeyError(f"no mapping polls {stream_arn}")
        for stream in targets:
            stream.inject(record)

    def mark_ttl_expiry(self, table_arn: str, keys: Mapping[str, Any]) -> None:
        """The next REMOVE of ``keys`` on this table carries the TTL ``userIdentity``."""
        self.ttl_marks.mark(table_arn, keys)

    def stream_backlog(self) -> int:
        """Stream records read but not yet resolved, over every stream mapping."""
        return sum(s.pending for s in self.streams.values())

    def queues_in_flight(self) -> int:
        """Queue batches currently inside a function."""
        return sum(q.in_flight for q in self.queues.values())

    @property
    def errors(self) -> list[str]:
        """Poller errors (not handler errors: those are batch outcomes)."""
        return [e for q in self.queues.values() for e in q.errors]
