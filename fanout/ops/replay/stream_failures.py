"""Stream failures (``fanout replay stream-failures``): Lambda writes one invocation
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
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal

from botocore.exceptions import ClientError

from fanout.connection import Connection
from fanout.local.records import to_lambda_stream_record
from fanout.ops.dlq.peek import release
from fanout.ops.output import NO_PROGRESS, Progress
from fanout.ops.replay.router import DeployedRouter, RoutesRecords, route_records
from fanout.ops.resolve import Hub

# https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Streams.html
# "All data in DynamoDB Streams is subject to a 24-hour lifetime."
STREAM_RETENTION: Final = timedelta(hours=24)
# https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_streams_GetRecords.html
GET_RECORDS_LIMIT: Final = 1000
FAILURE_PREFIX: Final = "aws/lambda/"
REPLAYED_PREFIX: Final = "replayed/"


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
            return _lost(
                batch,
                f"first record arrived {info.get('approximateArrivalOfFirstRecord')}, "
                "past the stream's 24 h retention",
            )
        read = reread(connection.client("dynamodbstreams"), info)
        records, missing = read.records, read.missing
        if not records:
            return _lost(batch, missing)
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


def _lost(batch: FailedBatch, why: str | None) -> BatchOutcome:
    """A stream batch none of whose records can be read again."""
    size = int(batch.info.get("batchSize") or 0)
    return BatchOutcome(batch.where, batch.condition, "stream", size, status="lost", detail=why)


def _move_to_replayed(s3: Any, uri: str) -> None:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    s3.copy_object(
        Bucket=bucket, Key=REPLAYED_PREFIX + key, CopySource={"Bucket": bucket, "Key": key}
    )
    s3.delete_object(Bucket=bucket, Key=key)
