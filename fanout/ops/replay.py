"""Route again what the router could not: discarded stream batches and router dead letters.

Both replays invoke the deployed router function (``lambda:InvokeFunction``,
``RequestResponse``) with a DynamoDB-stream-shaped event built from the records, so
the deployed code builds every envelope and only the router's role publishes to the
topic (the topic policy denies everyone else). A replayed record becomes exactly the
envelope the live router would have published (same deterministic id, attributes,
claim check); consumers de-duplicate by envelope id, so replaying something that did
get through after all has no second effect. The router's ``batchItemFailures`` name
the earliest record it could not publish; that record and every later one of the
chunk count as not routed.

Records are sent in chunks of at most the mapping's batch size and under Lambda's
6 MB synchronous request payload quota:
https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html
https://docs.aws.amazon.com/lambda/latest/dg/API_Invoke.html

Stream failures (``fanout replay stream-failures``): Lambda writes one invocation
record per discarded batch to the mapping's OnFailure destination.
https://docs.aws.amazon.com/lambda/latest/dg/services-dynamodb-errors.html

- S3 destination: the object holds the whole event in ``payload``; the records are
  routed from there. A replayed object is moved under ``replayed/`` (kept for audit,
  and not replayed twice).
- SQS destination (or an SNS destination delivering to a queue you subscribed): only
  ``DDBStreamBatchInfo`` (shard, first and last sequence number) is kept; the records
  are re-read from the stream with ``GetShardIterator`` ``AT_SEQUENCE_NUMBER`` while
  the stream still holds them (24 hours). Records already trimmed are reported as
  lost, with their range, and the message is kept for the operator.

Poison records (``fanout replay poison``): each router DLQ message's record (inline, or
read back from its ``record_ref`` in the router's payload bucket) is sent to the router
again. A record that routes is deleted from the DLQ. One that is still poison is
dead-lettered again by the router itself (a new DLQ message with today's error, which
the replay recognises as a message it had not received before, for a sequence number it
sent, and does not replay again) and the old message is deleted. One SNS still rejects, or whose ``record_ref`` cannot be
followed, stays where it is, untouched, and the error is reported.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal, Protocol

from botocore.exceptions import ClientError

from fanout.connection import Connection
from fanout.local.records import to_lambda_stream_record
from fanout.ops.dlq import release
from fanout.ops.output import NO_PROGRESS, Progress
from fanout.ops.resolve import Hub
from router.deadletter import KEY_PREFIX as DEAD_LETTER_PREFIX
from router.normalise import sequence_number_of

# https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Streams.html
# "All data in DynamoDB Streams is subject to a 24-hour lifetime."
STREAM_RETENTION: Final = timedelta(hours=24)
# Records per invocation: the router mapping's BatchSize in template.yaml.
ROUTE_BATCH: Final = 100
# Lambda's synchronous invocation request payload quota is 6 MB; the event's own JSON
# around the records stays well inside the margin.
# https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html
INVOKE_PAYLOAD_LIMIT: Final = 6 * 1024 * 1024
INVOKE_PAYLOAD_BUDGET: Final = INVOKE_PAYLOAD_LIMIT - 64 * 1024
# https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_streams_GetRecords.html
GET_RECORDS_LIMIT: Final = 1000
FAILURE_PREFIX: Final = "aws/lambda/"
REPLAYED_PREFIX: Final = "replayed/"


# ---------------------------------------------------------------------------- the router


@dataclass(frozen=True, slots=True)
class RouterAnswer:
    """What one router invocation said: the records it did not publish, or its error."""

    request_id: str
    failures: list[str] = field(default_factory=list)
    """``batchItemFailures`` item identifiers (sequence numbers), earliest first."""
    error: str | None = None
    """The function error (``FunctionError``): nothing is known to be published."""


class RoutesRecords(Protocol):
    """Something that routes stream records as the deployed router does."""

    def route(self, records: Sequence[Mapping[str, Any]]) -> RouterAnswer: ...


class DeployedRouter:
    """The deployed router function, invoked synchronously with a stream-shaped event."""

    def __init__(self, lambda_client: Any, function_name: str) -> None:
        self._lambda = lambda_client
        self.function_name = function_name

    @classmethod
    def of(cls, connection: Connection, hub: Hub) -> DeployedRouter:
        """The hub's router function (``RouterFunctionName`` output).

        Invoked with a client that waits out the router's whole timeout and never
        retries a call (``Connection.invoke_client``).
        """
        name = hub.need("router_function", "--stack of a deployed hub")
        return cls(connection.invoke_client(hub.router_timeout), name)

    def route(self, records: Sequence[Mapping[str, Any]]) -> RouterAnswer:
        """One ``RequestResponse`` invocation; raises the invoke's ``ClientError`` (AccessDenied...)."""
        response = self._lambda.invoke(
            FunctionName=self.function_name,
            InvocationType="RequestResponse",
            Payload=stream_event(records),
        )
        request_id = str(response.get("ResponseMetadata", {}).get("RequestId", ""))
        body = response["Payload"].read()
        if response.get("FunctionError"):
            detail = json.loads(body) if body else {}
            message = f"{detail.get('errorType', 'Error')}: {detail.get('errorMessage', '')}"
            return RouterAnswer(request_id, error=message)
        answer = json.loads(body) if body else None
        failures = (answer or {}).get("batchItemFailures") or []
        return RouterAnswer(request_id, [str(f["itemIdentifier"]) for f in failures])


def stream_event(records: Sequence[Mapping[str, Any]]) -> bytes:
    """The event Lambda gives a DynamoDB stream function: ``{"Records": [...]}``.

    https://docs.aws.amazon.com/lambda/latest/dg/with-ddb.html#services-dynamodb-event
    """
    return json.dumps({"Records": list(records)}, default=str).encode()


def chunks(records: Sequence[Mapping[str, Any]]) -> Iterator[list[Mapping[str, Any]]]:
    """Consecutive runs of at most ``ROUTE_BATCH`` records and ``INVOKE_PAYLOAD_BUDGET`` bytes.

    A single stream record is far below the budget (a DynamoDB item is at most 400 KB).
    """
    chunk: list[Mapping[str, Any]] = []
    size = 0
    for record in records:
        record_size = len(json.dumps(record, default=str).encode()) + 2
        if chunk and (len(chunk) == ROUTE_BATCH or size + record_size > INVOKE_PAYLOAD_BUDGET):
            yield chunk
            chunk, size = [], 0
        chunk.append(record)
        size += record_size
    if chunk:
        yield chunk


@dataclass
class RouteResult:
    """How many records of a list were routed, and where the first unrouted one is."""

    routed: int
    failed_at: int | None = None
    reason: str | None = None


def unpublished_from(chunk: Sequence[Mapping[str, Any]], answer: RouterAnswer) -> int:
    """The index of the first record of ``chunk`` the router did not publish (len: none)."""
    if answer.error is not None:
        return 0
    if not answer.failures:
        return len(chunk)
    resume = answer.failures[0]
    return next((i for i, r in enumerate(chunk) if sequence_number_of(r) == resume), 0)


def route_records(router: RoutesRecords, records: Sequence[Mapping[str, Any]]) -> RouteResult:
    """Route chunk by chunk; stop at the first chunk that does not complete."""
    done = 0
    for chunk in chunks(records):
        answer = router.route(chunk)
        index = unpublished_from(chunk, answer)
        if index < len(chunk):
            reason = (
                f"the router failed: {answer.error}"
                if answer.error is not None
                else f"not published from {answer.failures[0]}"
            )
            return RouteResult(done + index, done + index, reason)
        done += len(chunk)
    return RouteResult(done)


# ---------------------------------------------------------------------------- sources


@dataclass
class FailedBatch:
    """One OnFailure invocation record and where it came from."""

    where: str
    document: dict[str, Any]
    receipt: str | None = None
    """The SQS receipt handle, for a record read from a queue."""

    @property
    def info(self) -> dict[str, Any]:
        """``DDBStreamBatchInfo``: shard, sequence range, stream ARN."""
        return dict(self.document.get("DDBStreamBatchInfo") or {})

    @property
    def condition(self) -> str:
        """Why Lambda gave up (RetryAttemptsExhausted, RecordAgeExceeded...)."""
        return str((self.document.get("requestContext") or {}).get("condition", "?"))

    def payload_records(self) -> list[dict[str, Any]] | None:
        """The records kept in the document (S3 destinations), or None (metadata only)."""
        payload = self.document.get("payload")
        if payload is None:
            return None
        event = json.loads(payload) if isinstance(payload, str) else payload
        return list(event.get("Records", []))


def failed_batches_in_bucket(
    s3: Any, bucket: str, prefix: str = FAILURE_PREFIX
) -> Iterator[FailedBatch]:
    """Every invocation record under ``prefix`` (Lambda's key layout) in the bucket."""
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
            yield FailedBatch(f"s3://{bucket}/{item['Key']}", json.loads(body))


def failed_batches_in_queue(
    sqs: Any, queue_url: str, visibility_seconds: int = 300
) -> Iterator[FailedBatch]:
    """Every invocation record waiting in a queue (received, not deleted)."""
    seen: set[str] = set()
    while True:
        messages = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=visibility_seconds
        ).get("Messages", [])
        fresh = [m for m in messages if m["MessageId"] not in seen]
        if not fresh:
            return
        for message in fresh:
            seen.add(message["MessageId"])
            body = json.loads(message["Body"])
            if isinstance(body, dict) and body.get("Type") == "Notification":
                body = json.loads(body["Message"])  # via SNS to a subscribed queue
            yield FailedBatch(queue_url, body, message["ReceiptHandle"])


# ---------------------------------------------------------------------------- stream re-read


@dataclass
class StreamRead:
    """Records re-read from the stream for one batch, and any part already trimmed."""

    records: list[dict[str, Any]]
    missing: str | None = None


def reread(streams: Any, info: Mapping[str, Any]) -> StreamRead:
    """The batch's records from the stream, ``AT_SEQUENCE_NUMBER`` first to last."""
    stream_arn, shard = str(info["streamArn"]), str(info["shardId"])
    first, last = int(info["startSequenceNumber"]), int(info["endSequenceNumber"])
    try:
        iterator = streams.get_shard_iterator(
            StreamArn=stream_arn,
            ShardId=shard,
            ShardIteratorType="AT_SEQUENCE_NUMBER",
            SequenceNumber=str(info["startSequenceNumber"]),
        )["ShardIterator"]
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        # TrimmedDataAccessException / ResourceNotFoundException: past retention.
        return StreamRead([], f"{first}..{last} on {shard}: {code} (past the 24 h retention?)")
    records: list[dict[str, Any]] = []
    empty_pages = 0
    while iterator and empty_pages < 3:  # noqa: PLR2004 - an open shard returns empty pages
        page = streams.get_records(ShardIterator=iterator, Limit=GET_RECORDS_LIMIT)
        iterator = page.get("NextShardIterator")
        batch = page.get("Records", [])
        empty_pages = 0 if batch else empty_pages + 1
        for raw in batch:
            sequence = int(raw["dynamodb"]["SequenceNumber"])
            if sequence > last:
                iterator = None
                break
            if sequence >= first:
                records.append(to_lambda_stream_record(raw, stream_arn))
    expected = int(info.get("batchSize") or 0)
    missing = None
    if not records or int(records[0]["dynamodb"]["SequenceNumber"]) != first:
        missing = f"{first}..{last} on {shard}: the stream no longer has the first record"
    elif expected and len(records) < expected:
        missing = (
            f"{first}..{last} on {shard}: {expected - len(records)} of {expected} records are gone"
        )
    return StreamRead(records, missing)


def past_retention(info: Mapping[str, Any], now: datetime | None = None) -> bool:
    """True when the batch's first record is older than the stream keeps records."""
    text = info.get("approximateArrivalOfFirstRecord")
    if not text:
        return False
    arrived = datetime.fromisoformat(str(text))
    return (now or datetime.now(UTC)) - arrived > STREAM_RETENTION


# ---------------------------------------------------------------------------- replays


@dataclass
class BatchOutcome:
    """What happened to one failed batch."""

    where: str
    condition: str
    source: Literal["payload", "stream"]
    records: int
    routed: int = 0
    status: Literal["replayed", "would-replay", "partly-replayed", "lost", "failed"] = "replayed"
    detail: str | None = None


@dataclass
class StreamFailuresReport:
    """Every failed batch looked at, and the totals."""

    dry_run: bool
    batches: list[BatchOutcome] = field(default_factory=list)

    @property
    def records_routed(self) -> int:
        """Records routed again across every batch."""
        return sum(b.routed for b in self.batches)

    def as_dict(self) -> dict[str, Any]:
        """A plain dict (for JSON)."""
        return {
            "dry_run": self.dry_run,
            "records_routed": self.records_routed,
            "batches": [asdict(b) for b in self.batches],
        }


def replay_stream_failures(
    connection: Connection,
    hub: Hub,
    *,
    source: str | None = None,
    dry_run: bool = False,
    keep: bool = False,
    progress: Progress = NO_PROGRESS,
    router: RoutesRecords | None = None,
) -> StreamFailuresReport:
    """Route every discarded batch again; see the module docstring for each destination kind.

    ``source``: ``s3://bucket[/prefix]``, a queue URL/ARN, or None for the router
    mapping's OnFailure destination. ``router``: the deployed router unless given.
    """
    where = source or hub.need("failure_destination", "--from s3://BUCKET or a queue URL")
    report = StreamFailuresReport(dry_run)
    if not dry_run:
        router = router or DeployedRouter.of(connection, hub)
    s3, sqs = connection.client("s3"), connection.client("sqs")
    if where.startswith(("s3://", "arn:aws:s3:::")):
        bucket, _, prefix = where.removeprefix("s3://").removeprefix("arn:aws:s3:::").partition("/")
        batches: Iterator[FailedBatch] = failed_batches_in_bucket(
            s3, bucket, prefix or FAILURE_PREFIX
        )
        queue_url = None
    elif where.startswith("arn:aws:sns:"):
        raise ValueError(
            "an SNS destination keeps nothing to read back: subscribe a queue to it and pass"
            " that queue with --from"
        )
    else:
        from fanout.connection import queue_url_of  # noqa: PLC0415 - only for queue sources

        queue_url = queue_url_of(sqs, where)
        batches = failed_batches_in_queue(sqs, queue_url)
    to_release: list[str] = []
    try:
        for batch in batches:
            outcome = _replay_batch(connection, router, batch, dry_run=dry_run)
            report.batches.append(outcome)
            progress.advance(1)
            if outcome.status != "replayed" or dry_run:
                if batch.receipt:
                    to_release.append(batch.receipt)
                continue
            if batch.receipt and queue_url:
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=batch.receipt)
            elif batch.where.startswith("s3://") and not keep:
                _move_to_replayed(s3, batch.where)
    finally:
        if queue_url and to_release:
            release(sqs, queue_url, to_release)
    return report


def _replay_batch(
    connection: Connection,
    router: RoutesRecords | None,
    batch: FailedBatch,
    *,
    dry_run: bool,
) -> BatchOutcome:
    records = batch.payload_records()
    kind: Literal["payload", "stream"] = "payload"
    missing = None
    if records is None:
        kind = "stream"
        info = batch.info
        if past_retention(info):
            return BatchOutcome(
                batch.where,
                batch.condition,
                kind,
                int(info.get("batchSize") or 0),
                status="lost",
                detail=f"first record arrived {info.get('approximateArrivalOfFirstRecord')}, "
                "past the stream's 24 h retention",
            )
        read = reread(connection.client("dynamodbstreams"), info)
        records, missing = read.records, read.missing
        if not records:
            return BatchOutcome(
                batch.where,
                batch.condition,
                kind,
                int(info.get("batchSize") or 0),
                status="lost",
                detail=missing,
            )
    outcome = BatchOutcome(batch.where, batch.condition, kind, len(records), detail=missing)
    if dry_run or router is None:
        outcome.status = "would-replay"
        return outcome
    result = route_records(router, records)
    outcome.routed = result.routed
    if result.failed_at is not None:
        outcome.status = "failed" if result.routed == 0 else "partly-replayed"
        outcome.detail = result.reason
    elif missing:
        outcome.status = "partly-replayed"
    return outcome


def _move_to_replayed(s3: Any, uri: str) -> None:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    s3.copy_object(
        Bucket=bucket, Key=REPLAYED_PREFIX + key, CopySource={"Bucket": bucket, "Key": key}
    )
    s3.delete_object(Bucket=bucket, Key=key)


# ---------------------------------------------------------------------------- poison


@dataclass
class PoisonOutcome:
    """One router dead letter after the replay."""

    message_id: str
    sequence_number: str | None
    status: Literal["routed", "still-poison", "not-published", "would-replay", "unreadable"]
    error: str | None = None


@dataclass
class PoisonReport:
    """Every router dead letter looked at."""

    dry_run: bool
    outcomes: list[PoisonOutcome] = field(default_factory=list)

    def count(self, status: str) -> int:
        """How many ended with ``status``."""
        return sum(1 for o in self.outcomes if o.status == status)

    def as_dict(self) -> dict[str, Any]:
        """A plain dict (for JSON)."""
        return {
            "dry_run": self.dry_run,
            "routed": self.count("routed"),
            "still_poison": self.count("still-poison"),
            "outcomes": [asdict(o) for o in self.outcomes],
        }


class UnreadableLetterError(ValueError):
    """A router DLQ message whose record cannot be had; the message is left in the DLQ."""


def record_of(s3: Any, letter: Mapping[str, Any], bucket: str) -> Any:
    """The stream record of a dead letter: inline, or read from its ``record_ref``.

    A ``record_ref`` is only followed into the hub's own payload bucket, under the
    router's ``dead-letters/`` prefix (where ``router.deadletter`` writes it), and the
    stored letter must be the one for this sequence number. Raises
    ``UnreadableLetterError`` saying which check failed.
    """
    if "record" in letter:
        return letter["record"]
    reference = letter.get("record_ref")
    if not isinstance(reference, str) or not reference.startswith("s3://"):
        raise UnreadableLetterError("the dead letter has neither a record nor an s3:// record_ref")
    ref_bucket, _, key = reference.removeprefix("s3://").partition("/")
    if ref_bucket != bucket or not key.startswith(DEAD_LETTER_PREFIX):
        # Reading wherever a queue message points would let anyone who can send to the
        # router DLQ make the replay read (and publish) another bucket's objects.
        raise UnreadableLetterError(
            f"record_ref {reference} is outside the hub's s3://{bucket}/{DEAD_LETTER_PREFIX}"
            ": not read"
        )
    try:
        body = s3.get_object(Bucket=ref_bucket, Key=key)["Body"].read()
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "?")
        raise UnreadableLetterError(
            f"record_ref {reference}: the stored record cannot be read ({code})"
        ) from exc
    try:
        stored = json.loads(body)
    except ValueError as exc:
        raise UnreadableLetterError(f"record_ref {reference} is not JSON") from exc
    if not isinstance(stored, dict) or "record" not in stored:
        raise UnreadableLetterError(f"record_ref {reference} holds no record")
    if stored.get("sequence_number") != letter.get("sequence_number"):
        raise UnreadableLetterError(
            f"record_ref {reference} holds sequence {stored.get('sequence_number')}, "
            f"not {letter.get('sequence_number')}"
        )
    return stored["record"]


def replay_poison(
    connection: Connection,
    hub: Hub,
    *,
    dry_run: bool = False,
    limit: int | None = None,
    visibility_seconds: int = 300,
    progress: Progress = NO_PROGRESS,
    router: RoutesRecords | None = None,
) -> PoisonReport:
    """Send each router dead letter's record to the router; delete what it took, keep the rest.

    ``router``: the deployed router unless given.
    """
    sqs, s3 = connection.client("sqs"), connection.client("s3")
    queue_url = hub.need("router_dlq_url", "--router-dlq-url")
    # The bucket the router writes large dead letters to (its own PAYLOAD_BUCKET).
    bucket = hub.router_settings_environment()["PAYLOAD_BUCKET"]
    if not dry_run:
        router = router or DeployedRouter.of(connection, hub)
    replay = _PoisonReplay(sqs, s3, bucket, queue_url, None if dry_run else router)

    def receive() -> list[dict[str, Any]]:
        messages = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=10,
            VisibilityTimeout=visibility_seconds,
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        return replay.received(messages)

    try:
        while limit is None or replay.taken < limit:
            fresh = receive()
            if not fresh:
                break
            letters = replay.recognise_echoes(fresh)
            if limit is not None:
                letters = letters[: limit - replay.taken]
            replay.send(letters)
            progress.advance(len(letters))
        # The router's new dead letters for what it took, not yet seen (after a --limit).
        while replay.awaiting and (fresh := receive()):
            replay.recognise_echoes(fresh)
        replay.settle()
    finally:
        release(sqs, queue_url, replay.held.values())
    return replay.report


class _PoisonReplay:
    """One ``replay poison`` run: what was sent to the router, and what came back to the DLQ."""

    def __init__(
        self, sqs: Any, s3: Any, bucket: str, queue_url: str, router: RoutesRecords | None
    ) -> None:
        self.sqs, self.s3, self.bucket, self.queue_url = sqs, s3, bucket, queue_url
        self.router = router
        self.report = PoisonReport(router is None)
        self.held: dict[str, str] = {}
        """Message id to the latest receipt handle of every message received and not deleted."""
        self.seen: set[str] = set()
        """Every message id this run received."""
        self.taken = 0
        self._sent: dict[str, list[dict[str, Any]]] = {}
        """Sequence number to the letters of each record the router took (the first one
        sent, then any other letter for the same record received with it)."""

    @property
    def awaiting(self) -> bool:
        """Records the router took whose fate (routed or poison again) is not yet known."""
        return bool(self._sent)

    def received(self, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The messages not received before in this run; keeps every message's latest handle.

        A message received again (its visibility timeout ran out) is not new, but only
        its newest receipt handle deletes it: "you must provide the most recently
        received receipt handle ... otherwise, the request succeeds, but the message
        will not be deleted".
        https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_DeleteMessage.html
        """
        fresh: list[dict[str, Any]] = []
        for message in messages:
            message_id = message["MessageId"]
            if message_id in self.seen:
                if message_id in self.held:
                    self.held[message_id] = message["ReceiptHandle"]
                continue
            self.seen.add(message_id)
            self.held[message_id] = message["ReceiptHandle"]
            fresh.append(message)
        return fresh

    def recognise_echoes(self, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Take out the router's new dead letters for records this run sent; the rest.

        ``messages`` are new to this run (``received``). A new message for a sequence
        number this run sent to the router is the router dead-lettering it again: the
        message it replaces was received (and sent) before it. No clock is compared: the
        letter's ``failed_at`` is the function's clock, not this machine's. A second
        letter for the same record that was already waiting in the DLQ is taken for the
        echo as well; it stays in the DLQ, so nothing is lost.
        """
        originals: list[dict[str, Any]] = []
        for message in messages:
            try:
                letter = json.loads(message["Body"])
            except ValueError:
                letter = None
            sequence = letter.get("sequence_number") if isinstance(letter, dict) else None
            if isinstance(letter, dict) and str(sequence) in self._sent:
                # Still poison: the router dead-lettered it again, with today's error. The
                # new message stays; the old ones it replaces are deleted.
                error = letter.get("error") or {}
                reason = f"{error.get('kind', '?')}: {error.get('message', '')}"
                for original in self._sent.pop(str(sequence)):
                    self._delete(original)
                    self.report.outcomes.append(
                        PoisonOutcome(original["MessageId"], str(sequence), "still-poison", reason)
                    )
            else:
                originals.append(message)
        return originals

    def send(self, messages: list[dict[str, Any]]) -> None:
        """Send the readable letters' records to the router (or list them, dry run)."""
        self.taken += len(messages)
        readable: list[tuple[dict[str, Any], Any]] = []
        duplicates: dict[str, list[dict[str, Any]]] = {}
        for message in messages:
            sequence = None
            try:
                letter = json.loads(message["Body"])
                if not isinstance(letter, dict):
                    raise UnreadableLetterError("the message is not a dead letter (a JSON object)")
                sequence = letter.get("sequence_number")
                record = record_of(self.s3, letter, self.bucket)
            except (ValueError, KeyError) as exc:  # UnreadableLetterError is a ValueError
                self.report.outcomes.append(
                    PoisonOutcome(message["MessageId"], sequence, "unreadable", str(exc))
                )
                continue
            if sequence is not None and any(
                sequence_number_of(r) == str(sequence) for _, r in readable
            ):
                # Another letter for a record already in this batch (an interrupted run
                # leaves the original and its re-dead-letter): route the record once and
                # settle both letters with its fate.
                duplicates.setdefault(str(sequence), []).append(message)
                continue
            readable.append((message, record))
        if self.router is None:
            self.report.outcomes += [
                PoisonOutcome(m["MessageId"], sequence_number_of(r), "would-replay")
                for m, r in readable
            ]
            self.report.outcomes += [
                PoisonOutcome(m["MessageId"], sequence, "would-replay", "another letter of it")
                for sequence, letters in duplicates.items()
                for m in letters
            ]
            return
        offset = 0
        for chunk in chunks([r for _, r in readable]):
            answer = self.router.route(chunk)
            first_unpublished = unpublished_from(chunk, answer)
            for index, record in enumerate(chunk):
                message = readable[offset + index][0]
                sequence = sequence_number_of(record)
                letters = [message, *duplicates.get(str(sequence), [])]
                if index >= first_unpublished:
                    reason = answer.error or "SNS did not take it"
                    self.report.outcomes += [
                        PoisonOutcome(m["MessageId"], sequence, "not-published", reason)
                        for m in letters
                    ]
                else:
                    self._sent[str(sequence)] = letters
            offset += len(chunk)

    def settle(self) -> None:
        """Records the router took and did not dead-letter again were published."""
        for sequence, letters in self._sent.items():
            for message in letters:
                self._delete(message)
                self.report.outcomes.append(PoisonOutcome(message["MessageId"], sequence, "routed"))
        self._sent.clear()

    def _delete(self, message: Mapping[str, Any]) -> None:
        handle = self.held.pop(message["MessageId"], message["ReceiptHandle"])
        self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=handle)
