"""Route again what the router could not: discarded stream batches and router dead letters.

Both replays go through ``router.core.Router``, built from the deployed router's own
environment (``Hub.router_settings_environment``), so a replayed record becomes
exactly the envelope (same deterministic id, same attributes, same claim check) the
live router would have published. Consumers de-duplicate by envelope id, so a replay
of something that did get through after all has no second effect.

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
read back from its ``record_ref`` in the router's payload bucket) is routed again. A
record that routes is deleted from the DLQ; one that is still poison (or that SNS
still rejects), or whose ``record_ref`` cannot be followed, stays where it is,
untouched, and the error is reported.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal

from botocore.exceptions import ClientError

from fanout.connection import Connection
from fanout.local.records import to_lambda_stream_record
from fanout.ops.dlq import release
from fanout.ops.output import NO_PROGRESS, Progress
from fanout.ops.resolve import Hub
from router.claimcheck import ClaimCheck
from router.core import Router
from router.deadletter import KEY_PREFIX as DEAD_LETTER_PREFIX
from router.deadletter import DeadLetterError, DeadLetterWriter
from router.deadline import Deadline
from router.normalise import sequence_number_of
from router.publisher import SnsPublisher
from router.settings import Settings

# https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Streams.html
# "All data in DynamoDB Streams is subject to a 24-hour lifetime."
STREAM_RETENTION: Final = timedelta(hours=24)
# Records per Router.route call: the router mapping's BatchSize in template.yaml.
ROUTE_BATCH: Final = 100
# How long one routing call may keep retrying SNS (the router's own invocation budget).
ROUTE_SECONDS: Final = 60.0
# https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_streams_GetRecords.html
GET_RECORDS_LIMIT: Final = 1000
FAILURE_PREFIX: Final = "aws/lambda/"
REPLAYED_PREFIX: Final = "replayed/"
REPLAY_FUNCTION: Final = "fanout-replay"


def build_router(connection: Connection, hub: Hub, dead_letters: Any | None = None) -> Router:
    """The live router's code with the deployed router's settings, on this connection."""
    settings = Settings.from_env(hub.router_settings_environment())
    s3 = connection.client("s3")
    return Router(
        settings,
        SnsPublisher(
            connection.client("sns"),
            settings.topic_arn,
            settings.max_message_bytes,
            concurrency=settings.publish_concurrency,
        ),
        ClaimCheck(s3, settings.payload_bucket),
        dead_letters
        or DeadLetterWriter(
            connection.client("sqs"), settings.dlq_url, s3, settings.payload_bucket
        ),
    )


@dataclass
class RouteResult:
    """How many records of a list were routed, and where the first unrouted one is."""

    routed: int
    failed_at: int | None = None
    reason: str | None = None


def route_records(
    router: Router, records: Sequence[Mapping[str, Any]], origin: Mapping[str, str]
) -> RouteResult:
    """Route in the mapping's batch size; stop at the first batch that does not complete."""
    done = 0
    for start in range(0, len(records), ROUTE_BATCH):
        chunk = list(records[start : start + ROUTE_BATCH])
        response = router.route({"Records": chunk}, Deadline.after(ROUTE_SECONDS), origin)
        failures = response["batchItemFailures"]
        if failures:
            resume = failures[0]["itemIdentifier"]
            index = next((i for i, r in enumerate(chunk) if sequence_number_of(r) == resume), 0)
            return RouteResult(done + index, start + index, f"not published from {resume}")
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
) -> StreamFailuresReport:
    """Route every discarded batch again; see the module docstring for each destination kind.

    ``source``: ``s3://bucket[/prefix]``, a queue URL/ARN, or None for the router
    mapping's OnFailure destination.
    """
    where = source or hub.need("failure_destination", "--from s3://BUCKET or a queue URL")
    report = StreamFailuresReport(dry_run)
    router = None if dry_run else build_router(connection, hub)
    origin = {"function": REPLAY_FUNCTION, "request_id": f"stream-failures-{uuid.uuid4()}"}
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
            outcome = _replay_batch(connection, router, batch, origin, dry_run=dry_run)
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
    router: Router | None,
    batch: FailedBatch,
    origin: Mapping[str, str],
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
    result = route_records(router, records, origin)
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


class _KeptDeadLetters:
    """Stands in for the router's DLQ writer: notes which records would be dead-lettered.

    The record stays in its existing DLQ message instead of being written again.
    """

    def __init__(self) -> None:
        self.kept: dict[int, DeadLetterError] = {}

    def write(
        self, record: Any, reason: str, error: DeadLetterError, origin: Mapping[str, str]
    ) -> None:
        del reason, origin
        self.kept[id(record)] = error


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
) -> PoisonReport:
    """Route each router dead letter again; delete the ones that routed, keep the rest."""
    sqs, s3 = connection.client("sqs"), connection.client("s3")
    queue_url = hub.need("router_dlq_url", "--router-dlq-url")
    # The bucket the router writes large dead letters to (its own PAYLOAD_BUCKET).
    bucket = hub.router_settings_environment()["PAYLOAD_BUCKET"]
    kept = _KeptDeadLetters()
    router = None if dry_run else build_router(connection, hub, dead_letters=kept)
    origin = {"function": REPLAY_FUNCTION, "request_id": f"poison-{uuid.uuid4()}"}
    report = PoisonReport(dry_run)
    held: dict[str, str] = {}
    try:
        while limit is None or len(report.outcomes) < limit:
            messages = sqs.receive_message(
                QueueUrl=queue_url,
                MaxNumberOfMessages=10,
                VisibilityTimeout=visibility_seconds,
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            fresh = [m for m in messages if m["MessageId"] not in held]
            if not fresh:
                break
            for message in fresh:
                held[message["MessageId"]] = message["ReceiptHandle"]
            if limit is not None:
                fresh = fresh[: limit - len(report.outcomes)]
            _replay_letters(sqs, s3, bucket, queue_url, router, kept, fresh, origin, report, held)
            progress.advance(len(fresh))
    finally:
        release(sqs, queue_url, held.values())
    return report


def _replay_letters(
    sqs: Any,
    s3: Any,
    bucket: str,
    queue_url: str,
    router: Router | None,
    kept: _KeptDeadLetters,
    messages: list[dict[str, Any]],
    origin: Mapping[str, str],
    report: PoisonReport,
    held: dict[str, str],
) -> None:
    readable: list[tuple[dict[str, Any], Any]] = []
    for message in messages:
        sequence = None
        try:
            letter = json.loads(message["Body"])
            if not isinstance(letter, dict):
                raise UnreadableLetterError("the message is not a dead letter (a JSON object)")
            sequence = letter.get("sequence_number")
            record = record_of(s3, letter, bucket)
        except (ValueError, KeyError) as exc:  # UnreadableLetterError is a ValueError
            report.outcomes.append(
                PoisonOutcome(message["MessageId"], sequence, "unreadable", str(exc))
            )
            continue
        readable.append((message, record))
    if router is None:
        report.outcomes += [
            PoisonOutcome(m["MessageId"], sequence_number_of(r), "would-replay")
            for m, r in readable
        ]
        return
    records = [r for _, r in readable]
    kept.kept.clear()
    response = router.route({"Records": records}, Deadline.after(ROUTE_SECONDS), origin)
    unpublished_from = len(records)
    if response["batchItemFailures"]:
        resume = response["batchItemFailures"][0]["itemIdentifier"]
        unpublished_from = next(
            (i for i, r in enumerate(records) if sequence_number_of(r) == resume), 0
        )
    for index, (message, record) in enumerate(readable):
        sequence = sequence_number_of(record)
        if id(record) in kept.kept:
            error = kept.kept[id(record)]
            report.outcomes.append(
                PoisonOutcome(
                    message["MessageId"],
                    sequence,
                    "still-poison",
                    f"{error['kind']}: {error['message']}",
                )
            )
        elif index >= unpublished_from:
            report.outcomes.append(
                PoisonOutcome(
                    message["MessageId"], sequence, "not-published", "SNS did not take it"
                )
            )
        else:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            held.pop(message["MessageId"], None)
            report.outcomes.append(PoisonOutcome(message["MessageId"], sequence, "routed"))
