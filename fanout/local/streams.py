"""DynamoDB stream event source mapping: per-shard, in-order polling with Lambda's error handling.

Rules (each has a unit test):
- Records of a shard are delivered in order; a batch holds up to ``BatchSize``
  records and waits up to ``MaximumBatchingWindowInSeconds`` to fill.
- Success checkpoints after the batch. With ``ReportBatchItemFailures`` the
  shard resumes at the lowest reported sequence number; an empty or null list
  is success; an empty, null or unknown ``itemIdentifier`` fails the batch.
  https://docs.aws.amazon.com/lambda/latest/dg/services-ddb-batchfailurereporting.html
- A function error with ``BisectBatchOnFunctionError`` splits the batch in
  two (which does not consume the retry quota); a partial response is split
  at the reported record and only the rest is retried.
- After ``MaximumRetryAttempts`` retries, or once records are older than
  ``MaximumRecordAgeInSeconds``, the records go to the ``OnFailure``
  destination and the shard moves on.
  https://docs.aws.amazon.com/lambda/latest/dg/services-dynamodb-errors.html
"""

from __future__ import annotations

import collections
import json
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from fanout.local.failure import DiscardedBatch, FailureCondition, FailureDestination
from fanout.local.invoker import Invocation, Invoker, reported_failures
from fanout.local.model import INFINITE, FunctionSpec, MappingSpec
from fanout.local.observe import BatchEvent, InvocationOutcome, Observer
from fanout.local.records import sequence_of, to_lambda_image, to_lambda_stream_record

# https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_streams_GetRecords.html
GET_RECORDS_LIMIT = 1000


class ShardReader(Protocol):
    """Reads one shard forward from its starting position (raw GetRecords records)."""

    shard_id: str

    def fetch(self) -> list[dict[str, Any]]:
        """The next records, oldest first; empty when nothing new has arrived."""
        ...

    @property
    def closed(self) -> bool:
        """True once the shard has ended and every record was fetched."""
        ...


class BotoShardReader:
    """A ShardReader over a ``dynamodbstreams`` client."""

    def __init__(self, client: Any, stream_arn: str, shard_id: str, starting_position: str) -> None:
        self.shard_id = shard_id
        self._client = client
        self._iterator: str | None = client.get_shard_iterator(
            StreamArn=stream_arn, ShardId=shard_id, ShardIteratorType=starting_position
        )["ShardIterator"]

    def fetch(self) -> list[dict[str, Any]]:
        """One GetRecords call; a missing NextShardIterator means the shard is closed."""
        if self._iterator is None:
            return []
        page = self._client.get_records(ShardIterator=self._iterator, Limit=GET_RECORDS_LIMIT)
        self._iterator = page.get("NextShardIterator")
        return list(page.get("Records", []))

    @property
    def closed(self) -> bool:
        """True when the stream said there is no next iterator."""
        return self._iterator is None


def key_fingerprint(keys: Mapping[str, Any]) -> str:
    """A stable text for an item key in either boto3 or Lambda encoding."""
    return json.dumps(to_lambda_image(keys), sort_keys=True)


class TtlMarks:
    """Keys whose next REMOVE record is a TTL expiry (moto runs no TTL process).

    ``fanout local`` deletes the item itself and marks its key, so the stream
    holds a real REMOVE record; the converter then adds the TTL ``userIdentity``
    that DynamoDB would have written.
    https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/time-to-live-ttl-streams.html
    """

    def __init__(self) -> None:
        self._marks: collections.Counter[tuple[str, str]] = collections.Counter()
        self._lock = threading.Lock()

    def mark(self, table_arn: str, keys: Mapping[str, Any]) -> None:
        """The next REMOVE of ``keys`` in ``table_arn``'s stream is a TTL deletion."""
        with self._lock:
            self._marks[(table_arn, key_fingerprint(keys))] += 1

    def take(self, stream_arn: str, raw: Mapping[str, Any]) -> bool:
        """True (once per mark) when ``raw`` is the REMOVE a mark was waiting for."""
        if raw.get("eventName") != "REMOVE":
            return False
        table_arn = stream_arn.split("/stream/", 1)[0]
        mark = (table_arn, key_fingerprint(raw.get("dynamodb", {}).get("Keys", {})))
        with self._lock:
            if self._marks[mark] <= 0:
                return False
            self._marks[mark] -= 1
            return True


@dataclass(frozen=True, slots=True)
class StreamSettings:
    """Local pacing; the mapping's behaviour comes from its MappingSpec."""

    # Lambda polls each shard four times a second.
    # https://docs.aws.amazon.com/lambda/latest/dg/with-ddb.html
    poll_interval_seconds: float = 0.25
    # Pause between retries of a failing batch (Lambda's own backoff is not documented).
    retry_backoff_seconds: float = 0.05
    retry_backoff_max_seconds: float = 1.0


@dataclass
class _Segment:
    records: list[dict[str, Any]]
    retries: int = 0
    invokes: int = 0
    last: Invocation | None = None


@dataclass(frozen=True, slots=True)
class Verdict:
    """How many leading records of a batch succeeded; None means the whole batch failed."""

    succeeded: int | None
    reason: str = ""


def judge(
    records: Sequence[Mapping[str, Any]], invocation: Invocation, *, report_failures: bool
) -> Verdict:
    """Read an invocation's outcome as Lambda does for a stream batch."""
    if invocation.failed:
        return Verdict(None, f"{invocation.error_type}: {invocation.error_message}")
    if not report_failures:
        return Verdict(len(records))
    identifiers, reason = reported_failures(invocation.response)
    if identifiers is None:
        return Verdict(None, reason)
    if not identifiers:
        return Verdict(len(records))
    positions = {sequence_of(r): i for i, r in enumerate(records)}
    unknown = [i for i in identifiers if i not in positions]
    if unknown:
        return Verdict(None, f"itemIdentifier {unknown[0]!r} is not in the batch")
    first = min(positions[i] for i in identifiers)
    return Verdict(first, f"partial failure at {sequence_of(records[first])}")


class ShardPoller:
    """Drives one shard of one mapping until stopped (or the shard closes)."""

    def __init__(
        self,
        mapping: MappingSpec,
        function: FunctionSpec,
        reader: ShardReader,
        invoker: Invoker,
        *,
        destination: FailureDestination | None = None,
        observer: Observer,
        settings: StreamSettings,
        ttl_marks: TtlMarks | None = None,
    ) -> None:
        self.mapping = mapping
        self.function = function
        self.reader = reader
        self._invoker = invoker
        self._destination = destination
        self._observe = observer
        self._settings = settings
        self._ttl = ttl_marks or TtlMarks()
        self._buffer: list[dict[str, Any]] = []
        self._injected: collections.deque[dict[str, Any]] = collections.deque()
        self.finished = threading.Event()
        self.errors: list[str] = []

    def inject(self, record: Mapping[str, Any]) -> None:
        """Queue a Lambda-format record after what was read so far (a record DynamoDB can't hold)."""
        self._injected.append(dict(record))

    @property
    def pending(self) -> int:
        """Records read but not yet checkpointed past."""
        return len(self._buffer) + len(self._injected)

    def run(self, stop: threading.Event) -> None:
        """Poll, batch and invoke until ``stop`` is set or the shard is exhausted."""
        try:
            while not stop.is_set():
                batch = self._next_batch(stop)
                if batch is None:
                    break
                if batch:
                    self._process(batch, stop)
        finally:
            self.finished.set()

    def _fill(self) -> None:
        arn = self.mapping.source_arn
        for raw in self.reader.fetch():
            self._buffer.append(
                to_lambda_stream_record(raw, arn, ttl_expiry=self._ttl.take(arn, raw))
            )
        while self._injected:
            self._buffer.append(self._injected.popleft())

    def _next_batch(self, stop: threading.Event) -> list[dict[str, Any]] | None:
        """Up to BatchSize records, after waiting up to the batching window to fill; None at end."""
        size = self.mapping.effective_batch_size
        window = self.mapping.maximum_batching_window_seconds
        window_ends: float | None = None
        while not stop.is_set():
            self._fill()
            if self._buffer:
                if window_ends is None:
                    window_ends = time.monotonic() + window
                if len(self._buffer) >= size or time.monotonic() >= window_ends:
                    return self._buffer[:size]
            elif self.reader.closed and not self._injected:
                return None
            stop.wait(self._settings.poll_interval_seconds)
        return []

    def _process(self, batch: list[dict[str, Any]], stop: threading.Event) -> None:
        """Resolve one batch completely (success or discard), in order, then drop it."""
        work = collections.deque([_Segment(batch)])
        while work and not stop.is_set():
            segment = work[0]
            expired = self._expired_prefix(segment.records)
            if expired:
                self._discard(segment, expired, FailureCondition.RECORD_AGE_EXCEEDED)
                segment.records = segment.records[expired:]
                if not segment.records:
                    work.popleft()
                continue
            self._emit(InvocationOutcome.DELIVERED, segment.records)
            invocation = self._invoker.invoke(self.function, {"Records": segment.records})
            segment.invokes += 1
            segment.last = invocation
            verdict = judge(
                segment.records,
                invocation,
                report_failures=self.mapping.reports_batch_item_failures,
            )
            if verdict.succeeded == len(segment.records):
                self._emit(InvocationOutcome.SUCCEEDED, segment.records)
                work.popleft()
                continue
            if verdict.succeeded is None and self._can_bisect(segment):
                half = len(segment.records) // 2
                self._emit(InvocationOutcome.BISECTED, segment.records, verdict.reason)
                work.popleft()
                # Splitting does not consume the retry quota: both halves keep the count.
                work.extendleft(
                    [
                        _Segment(segment.records[half:], segment.retries),
                        _Segment(segment.records[:half], segment.retries),
                    ]
                )
                continue
            done = verdict.succeeded or 0
            if done:
                self._emit(InvocationOutcome.SUCCEEDED, segment.records[:done])
                segment.records = segment.records[done:]
            segment.retries += 1
            if INFINITE < self.mapping.maximum_retry_attempts < segment.retries:
                self._discard(
                    segment, len(segment.records), FailureCondition.RETRY_ATTEMPTS_EXHAUSTED
                )
                work.popleft()
                continue
            self._emit(InvocationOutcome.RETRIED, segment.records, verdict.reason)
            backoff = self._settings.retry_backoff_seconds * 2 ** min(segment.retries - 1, 10)
            stop.wait(min(backoff, self._settings.retry_backoff_max_seconds))
        if not work:
            del self._buffer[: len(batch)]

    def _can_bisect(self, segment: _Segment) -> bool:
        return self.mapping.bisect_batch_on_function_error and len(segment.records) > 1

    def _expired_prefix(self, records: Sequence[Mapping[str, Any]]) -> int:
        limit = self.mapping.maximum_record_age_seconds
        if limit == INFINITE:
            return 0
        now = time.time()
        count = 0
        for record in records:
            if now - float(record["dynamodb"].get("ApproximateCreationDateTime", now)) <= limit:
                break
            count += 1
        return count

    def _discard(self, segment: _Segment, count: int, condition: FailureCondition) -> None:
        records = segment.records[:count]
        discarded = DiscardedBatch(
            records=records,
            condition=condition,
            function_arn=self.function.function_arn,
            shard_id=self.reader.shard_id,
            stream_arn=self.mapping.source_arn,
            invoke_count=segment.invokes,
            last_invocation=segment.last,
        )
        where = "no OnFailure destination: records dropped"
        if self._destination is not None:
            where = self._send(discarded)
        self._emit(InvocationOutcome.DISCARDED, records, f"{condition}: {where}")

    def _send(self, discarded: DiscardedBatch) -> str:
        """Deliver to the destination, retrying until it works: the shard must not skip unrecorded."""
        assert self._destination is not None  # noqa: S101 - checked by the caller  # nosec B101
        delay = self._settings.retry_backoff_seconds or 0.05
        while True:
            try:
                return self._destination.send(discarded)
            except Exception as exc:  # noqa: BLE001 - any failure: record it and try again
                self.errors.append(f"OnFailure destination {self._destination.arn}: {exc}")
                time.sleep(delay)
                delay = min(delay * 2, self._settings.retry_backoff_max_seconds)

    def _emit(
        self, outcome: InvocationOutcome, records: Sequence[Mapping[str, Any]], detail: str = ""
    ) -> None:
        self._observe(
            BatchEvent(
                outcome=outcome,
                function=self.function.name,
                source_arn=self.mapping.source_arn,
                identifiers=tuple(sequence_of(r) for r in records),
                detail=detail,
            )
        )


@dataclass
class StreamMapping:
    """All shards of one stream mapping: discovers shards and runs a ShardPoller per shard."""

    mapping: MappingSpec
    function: FunctionSpec
    streams_client: Any
    invoker: Invoker
    observer: Observer
    settings: StreamSettings
    destination: FailureDestination | None = None
    ttl_marks: TtlMarks = field(default_factory=TtlMarks)
    reader_factory: Callable[[str], ShardReader] | None = None
    pollers: dict[str, ShardPoller] = field(default_factory=dict)
    _threads: list[threading.Thread] = field(default_factory=list)

    def _reader(self, shard_id: str) -> ShardReader:
        if self.reader_factory is not None:
            return self.reader_factory(shard_id)
        return BotoShardReader(
            self.streams_client, self.mapping.source_arn, shard_id, self.mapping.starting_position
        )

    def discover(self, stop: threading.Event) -> None:
        """Start a poller for each shard whose parent (if any) is finished: parents go first."""
        shards = self.streams_client.describe_stream(StreamArn=self.mapping.source_arn)[
            "StreamDescription"
        ]["Shards"]
        known = {s["ShardId"] for s in shards}
        for shard in shards:
            shard_id = shard["ShardId"]
            parent = shard.get("ParentShardId")
            if shard_id in self.pollers:
                continue
            if parent in known and not (
                parent in self.pollers and self.pollers[parent].finished.is_set()
            ):
                continue
            poller = ShardPoller(
                self.mapping,
                self.function,
                self._reader(shard_id),
                self.invoker,
                destination=self.destination,
                observer=self.observer,
                settings=self.settings,
                ttl_marks=self.ttl_marks,
            )
            self.pollers[shard_id] = poller
            thread = threading.Thread(
                target=poller.run, args=(stop,), name=f"esm-{shard_id[-8:]}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def inject(self, record: Mapping[str, Any]) -> None:
        """Hand a Lambda-format record to the newest open shard's poller."""
        open_pollers = [p for p in self.pollers.values() if not p.finished.is_set()]
        if not open_pollers:
            raise RuntimeError(f"no open shard to inject into on {self.mapping.source_arn}")
        open_pollers[-1].inject(record)

    @property
    def pending(self) -> int:
        """Records read from the stream but not yet resolved, over all shards."""
        return sum(p.pending for p in self.pollers.values())

    def join(self, timeout: float) -> None:
        """Wait for the shard threads after ``stop`` was set."""
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
