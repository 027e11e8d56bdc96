"""Backfill: deliver every item already in the table to ONE consumer, as snapshot envelopes.

A consumer that subscribes today sees changes from today. ``fanout backfill CONSUMER``
scans the source table (parallel segments) and sends each item as a
``<entity>.snapshot`` envelope straight to that consumer's queue, so no other consumer
sees it (the topic is not involved).

Because the topic is not involved, its filtering is not either: each snapshot is
matched against the consumer's subscription filter policy (``fanout.ops.filtering``)
exactly as SNS would match the router's publication of it, attributes or body, and
only the snapshots SNS would deliver are sent. A consumer filtered to ``type=order.*``
gets the orders, not the customers.

The envelope is made by the router's own ``to_outbound`` from a synthetic INSERT
record of the item, then marked as a snapshot (``type`` ``<entity>.snapshot``,
``operation`` ``snapshot``); body and SQS message attributes are what raw delivery of
the router's publication would give the consumer. Its fields:

- ``data.new`` is the item, ``data.old`` and ``data.changed`` are null;
- ``id`` is the router's UUIDv5 over ``<table ARN>/snapshot:<run id>:<key>``: stable
  within one run (so a resumed run re-sends the same ids and the consumer de-duplicates
  the page that was in flight at the interruption) and new for a new run (a deliberate
  second backfill is delivered again);
- ``time`` is when the run started scanning (the scan is not a point-in-time read);
- ``sequence`` is forty zeros: a snapshot is older than every stream change, so a
  consumer that keeps the newest ``sequence`` (a ``Mode.STATE`` consumer, ``skip_stale``)
  never lets a snapshot overwrite a change it already applied, and any change made
  after the scan wins over the snapshot.

Envelopes over the router's ``MAX_MESSAGE_BYTES``, or over what one SQS message may hold
(a topic may allow up to 1 MiB, the queue does not), go through the router's claim check:
the whole envelope is stored in the hub's payload bucket and a pointer envelope (``dataref``)
is sent, which the consumer runtime resolves, exactly as for a routed change. No item is
left out; without a payload bucket an oversize item stops the run with its key.

Backlog: ``max_backlog`` holds the scan while the consumer's queue has that many messages
waiting, so a large table never piles onto the queue at once (the consumer's live changes
would wait behind it, and the oldest snapshots age towards the queue's retention).

Rate: every Scan asks for ``ReturnConsumedCapacity=TOTAL`` and charges what it consumed
to a token bucket refilled at ``read_units_per_second``, shared by all segments; a
segment waits for the debt to clear before its next page. Sends are batched
(``SendMessageBatch``) and retried with backoff and jitter.

Resume: a JSON checkpoint file holds the run id, the scan start time and, per segment,
the ``LastEvaluatedKey`` after which everything has been sent (written atomically after
each page's messages were all accepted by SQS). Run the same command again to resume;
``--restart`` discards it.
"""

from __future__ import annotations

import json
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Final

from fanout.aws_rules.sqs import is_fifo_queue
from fanout.local.records import to_lambda_image
from fanout.ops.filtering import FilterPolicy
from fanout.ops.output import NO_PROGRESS, Progress
from fanout.ops.pacing import BacklogGate, Retry, TokenBucket
from hubcommon.limits import SQS_MAX_MESSAGE_BYTES, SQS_SEND_BATCH_MAX_ENTRIES
from router.batching import pack_batches
from router.claimcheck import BACKFILL_KEY_PREFIX, ClaimCheckWriter
from router.contracts import borrowed, shipped_schemas
from router.normalise import EntityRules, Outbound, pointer_body, to_outbound
from router.settings import Settings

SNAPSHOT: Final = "snapshot"
# Stream sequence numbers are at least 21 digits; zero sorts before every one of them.
SNAPSHOT_SEQUENCE: Final = "0"
# Items per Scan page: bounds the capacity one request may take before the bucket sees it.
SCAN_PAGE_ITEMS: Final = 500
CHECKPOINT_VERSION: Final = 1


def snapshot_outbound(
    image: Mapping[str, Any],
    key_names: Sequence[str],
    table_arn: str,
    rules: EntityRules,
    run_id: str,
    scanned_at: int,
) -> Outbound:
    """The snapshot envelope of one item (Lambda's DynamoDB JSON, binary as base64)."""
    keys = {name: image[name] for name in key_names}
    record = {
        "eventID": f"snapshot:{run_id}:{json.dumps(keys, sort_keys=True)}",
        "eventName": "INSERT",
        "eventSourceARN": table_arn,
        "dynamodb": {
            "ApproximateCreationDateTime": scanned_at,
            "Keys": keys,
            "NewImage": dict(image),
            "SequenceNumber": SNAPSHOT_SEQUENCE,
        },
    }
    return to_outbound(record, rules, operation=SNAPSHOT)


# ---------------------------------------------------------------------------- checkpoint


@dataclass
class SegmentState:
    """Where one scan segment is: resume after ``last_key``; ``done`` when it finished."""

    last_key: dict[str, Any] | None = None
    done: bool = False
    items: int = 0


@dataclass
class Checkpoint:
    """A backfill run's progress, saved to ``path`` after every page."""

    path: Path
    consumer: str
    table: str
    run_id: str
    scanned_at: int
    segments: list[SegmentState]
    version: int = CHECKPOINT_VERSION
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def complete(self) -> bool:
        """True when every segment finished."""
        return all(s.done for s in self.segments)

    @property
    def items(self) -> int:
        """Items sent so far, over every segment and every resumed run."""
        return sum(s.items for s in self.segments)

    def save(self) -> None:
        """Write atomically (a crash mid-write leaves the previous checkpoint)."""
        with self._lock:
            document = {
                "version": self.version,
                "consumer": self.consumer,
                "table": self.table,
                "run_id": self.run_id,
                "scanned_at": self.scanned_at,
                "segments": [asdict(s) for s in self.segments],
            }
            self.path.parent.mkdir(parents=True, exist_ok=True)
            scratch = self.path.with_suffix(self.path.suffix + ".tmp")
            scratch.write_text(json.dumps(document, indent=1))
            scratch.replace(self.path)

    @classmethod
    def load_or_start(
        cls, path: Path, consumer: str, table: str, segments: int, *, restart: bool = False
    ) -> Checkpoint:
        """The saved run for (consumer, table) at ``path``, or a new one."""
        if path.exists() and not restart:
            saved = json.loads(path.read_text())
            if saved.get("consumer") != consumer or saved.get("table") != table:
                raise ValueError(
                    f"{path} belongs to a backfill of {saved.get('table')} into"
                    f" {saved.get('consumer')}; pass another --checkpoint or --restart"
                )
            return cls(
                path=path,
                consumer=consumer,
                table=table,
                run_id=str(saved["run_id"]),
                scanned_at=int(saved["scanned_at"]),
                segments=[SegmentState(**s) for s in saved["segments"]],
            )
        return cls(
            path=path,
            consumer=consumer,
            table=table,
            run_id=uuid.uuid4().hex,
            scanned_at=int(time.time()),
            segments=[SegmentState() for _ in range(segments)],
        )


def default_checkpoint(consumer: str, table: str) -> Path:
    """``.fanout/backfill-<consumer>-<table>.json`` under the current directory."""
    return Path(".fanout") / f"backfill-{consumer}-{table}.json"


# ---------------------------------------------------------------------------- the run


@dataclass
class BackfillReport:
    """What a backfill did."""

    consumer: str
    table: str
    queue_url: str
    run_id: str
    segments: int
    sent: int = 0
    filtered: int = 0
    """Items the consumer's filter policy holds back, as SNS would."""
    offloaded: int = 0
    backlog_wait_seconds: float = 0.0
    consumed_read_units: float = 0.0
    resumed: bool = False
    complete: bool = False
    dry_run: bool = False
    sample: str | None = None
    checkpoint: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """A plain dict (for JSON)."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Target:
    """Where snapshots go and how they are made."""

    table: str
    table_arn: str
    key_names: tuple[str, ...]
    queue_url: str
    rules: EntityRules
    max_message_bytes: int
    payload_bucket: str | None
    filter_policy: FilterPolicy = field(default_factory=FilterPolicy)

    @property
    def fifo(self) -> bool:
        """The consumer's queue is a FIFO queue."""
        return is_fifo_queue(self.queue_url)

    @property
    def inline_limit(self) -> int:
        """The largest snapshot sent inline: the router's limit, capped by what SQS accepts.

        SQS counts the body and every message attribute against its limit.
        https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/quotas-messages.html
        """
        return min(self.max_message_bytes, SQS_MAX_MESSAGE_BYTES)


class OversizeSnapshotError(ValueError):
    """An item too large for one SQS message, and no payload bucket to claim-check it in."""


def describe_target(
    dynamodb: Any,
    table: str,
    queue_url: str,
    router_env: Mapping[str, str],
    *,
    payload_bucket: str | None = None,
    filter_policy: FilterPolicy | None = None,
    note: Callable[[str], None] = lambda text: print(text, file=sys.stderr),
) -> Target:
    """The table's key schema and ARN, and the router's entity and size settings.

    ``payload_bucket`` is the claim-check bucket when the router's environment names none;
    ``filter_policy`` is the consumer's subscription's (``fanout.ops.filtering``).
    ``note`` gets ``contracts_note``'s line when there is one (stderr: stdout stays the
    command's output).
    """
    description = dynamodb.describe_table(TableName=table)["Table"]
    settings = Settings.from_env(router_env) if router_env.get("TOPIC_ARN") else None
    told = contracts_note(router_env)
    if told:
        note(told)
    return Target(
        table=table,
        table_arn=description["TableArn"],
        key_names=tuple(k["AttributeName"] for k in description["KeySchema"]),
        queue_url=queue_url,
        rules=EntityRules.of_router(router_env),
        max_message_bytes=settings.max_message_bytes if settings else SQS_MAX_MESSAGE_BYTES,
        payload_bucket=(settings.payload_bucket if settings else router_env.get("PAYLOAD_BUCKET"))
        or payload_bucket,
        filter_policy=filter_policy or FilterPolicy(),
    )


def contracts_note(router_env: Mapping[str, str]) -> str | None:
    """One line naming the contract versions snapshots carry, when they are not the router's own files.

    The router's ``CONTRACT_SCHEMAS`` folder (a layer's ``/opt`` path) is not on this
    machine, so the snapshots' ``dataschema`` comes from this checkout's exports, which
    ``make schemas`` keeps as the router ships them; an operator on another checkout
    should know which versions those are. None when the router's folder is here.
    """
    missing = borrowed(router_env)
    if missing is None:
        return None
    versions = ", ".join(
        f"{entity} v{version}" for entity, (version, _) in sorted(shipped_schemas().items())
    )
    return (
        f"note: the router's contract folder {missing} is not on this machine;"
        f" snapshots carry this checkout's contract versions: {versions or 'none'}"
    )


class Backfill:
    """Scans ``target.table`` and sends snapshots to ``target.queue_url``; resumable.

    Every call on ``dynamodb``, ``sqs`` and ``s3`` goes through ``retry``: give it
    clients whose calls botocore does not retry as well
    (``Connection.single_attempt_client``), or each attempt multiplies.
    """

    def __init__(
        self,
        dynamodb: Any,
        sqs: Any,
        s3: Any,
        target: Target,
        checkpoint: Checkpoint,
        *,
        read_units_per_second: float = 100.0,
        messages_per_second: float = 0.0,
        retry: Retry | None = None,
        progress: Progress = NO_PROGRESS,
        page_items: int = SCAN_PAGE_ITEMS,
        on_page: Callable[[int], None] | None = None,
        max_backlog: int = 0,
        backlog_poll_seconds: float = 0.5,
    ) -> None:
        self._dynamodb = dynamodb
        self._sqs = sqs
        self._claim_check = (
            ClaimCheckWriter(s3, target.payload_bucket, BACKFILL_KEY_PREFIX)
            if target.payload_bucket
            else None
        )
        self.target = target
        self.checkpoint = checkpoint
        self._bucket = TokenBucket(read_units_per_second)
        # Optional: bound the pace at which the consumer's queue fills (its downstream).
        self._sends = TokenBucket(messages_per_second, burst=max(messages_per_second, 10.0))
        self._retry = retry or Retry()
        self._backlog = BacklogGate(
            self._queue_backlog, max_backlog, poll_seconds=backlog_poll_seconds
        )
        self._progress = progress
        self._page_items = page_items
        self._on_page = on_page
        self._lock = threading.Lock()
        self.report = BackfillReport(
            consumer=checkpoint.consumer,
            table=target.table,
            queue_url=target.queue_url,
            run_id=checkpoint.run_id,
            segments=len(checkpoint.segments),
            resumed=checkpoint.items > 0 or any(s.last_key for s in checkpoint.segments),
            checkpoint=str(checkpoint.path),
        )

    def run(self) -> BackfillReport:
        """Scan every unfinished segment in parallel; the first error stops the run (resumable)."""
        pending = [i for i, s in enumerate(self.checkpoint.segments) if not s.done]
        if pending:
            with ThreadPoolExecutor(max_workers=len(pending)) as pool:
                for future in [pool.submit(self._segment, i) for i in pending]:
                    future.result()
        self.report.complete = self.checkpoint.complete
        return self.report

    def _segment(self, index: int) -> None:
        state = self.checkpoint.segments[index]
        total = len(self.checkpoint.segments)
        while not state.done:
            self._bucket.take(0)  # wait off any debt before asking for more
            arguments: dict[str, Any] = {
                "TableName": self.target.table,
                "Segment": index,
                "TotalSegments": total,
                "Limit": self._page_items,
                "ReturnConsumedCapacity": "TOTAL",
            }
            if state.last_key:
                arguments["ExclusiveStartKey"] = state.last_key
            page: dict[str, Any] = self._retry.call(partial(self._dynamodb.scan, **arguments))
            consumed = float((page.get("ConsumedCapacity") or {}).get("CapacityUnits", 0.0))
            self._bucket.charge(consumed)
            items = page.get("Items", [])
            messages = [m for m in map(self._outbound, items) if m is not None]
            self._send(messages)
            with self._lock:
                self.report.sent += len(messages)
                self.report.filtered += len(items) - len(messages)
                self.report.consumed_read_units += consumed
            state.items += len(items)
            state.last_key = page.get("LastEvaluatedKey")
            state.done = state.last_key is None
            self.checkpoint.save()
            self._progress.advance(len(items))
            if self._on_page is not None:
                self._on_page(len(items))

    def _queue_backlog(self) -> int:
        attributes = self._retry.call(
            partial(
                self._sqs.get_queue_attributes,
                QueueUrl=self.target.queue_url,
                AttributeNames=["ApproximateNumberOfMessages"],
            )
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"])

    def _outbound(self, item: Mapping[str, Any]) -> Outbound | None:
        """The message to send for ``item``, or None when the consumer's filter holds it back."""
        message = snapshot_outbound(
            to_lambda_image(item),
            self.target.key_names,
            self.target.table_arn,
            self.target.rules,
            self.checkpoint.run_id,
            self.checkpoint.scanned_at,
        )
        limit = self.target.inline_limit
        oversize = message.size > limit
        # SNS filters what the router publishes: for an oversize envelope that is the
        # claim-check pointer (same attributes, no data), so a body-scope policy sees that.
        published = message
        if oversize and self._claim_check is not None:
            key = self._claim_check.key_for(message)
            published = message.as_pointer(
                pointer_body(message.body, f"s3://{self.target.payload_bucket}/{key}")
            )
        if not self.target.filter_policy.delivers(published):
            return None
        if not oversize:
            return message
        if self._claim_check is None:
            raise OversizeSnapshotError(
                f"item {message.subject} makes a {message.size}-byte snapshot, over the"
                f" {limit}-byte message limit, and no payload bucket is set for claim checks"
                " (the router's PAYLOAD_BUCKET)"
            )
        message = self._retry.call(partial(self._claim_check.offload, message))
        with self._lock:
            self.report.offloaded += 1
        return message

    def _entry(self, index: int, message: Outbound) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "Id": str(index),
            "MessageBody": message.body,
            "MessageAttributes": message.attributes,
        }
        if self.target.fifo:
            # A FIFO queue refuses a message without a group id. The router's group (table
            # and item key) keeps a snapshot in order with the item's live changes, and
            # the envelope id (deterministic per run and item) makes a resend after a
            # failed call a duplicate SQS drops.
            # https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/quotas-messages.html
            # https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SendMessageBatch.html
            entry["MessageGroupId"] = message.group_id
            entry["MessageDeduplicationId"] = message.envelope_id
        return entry

    def _send(self, messages: list[Outbound]) -> None:
        for batch in pack_batches(messages, SQS_MAX_MESSAGE_BYTES, SQS_SEND_BATCH_MAX_ENTRIES):
            waited = self._backlog.wait()
            if waited:
                with self._lock:
                    self.report.backlog_wait_seconds += waited
            self._sends.take(len(batch))
            pending = dict(enumerate(batch))
            attempt = 0
            while pending:
                entries = [self._entry(i, m) for i, m in pending.items()]
                response: dict[str, Any] = self._retry.call(
                    partial(
                        self._sqs.send_message_batch,
                        QueueUrl=self.target.queue_url,
                        Entries=entries,
                    )
                )
                for ok in response.get("Successful", []):
                    pending.pop(int(ok["Id"]))
                failed = response.get("Failed", [])
                if any(f.get("SenderFault") for f in failed):
                    bad = next(f for f in failed if f.get("SenderFault"))
                    raise RuntimeError(
                        f"SQS refused a snapshot: {bad.get('Code')}: {bad.get('Message')}"
                    )
                if pending:
                    if attempt + 1 >= self._retry.attempts:
                        raise RuntimeError(
                            f"{len(pending)} snapshots could not be sent; resume later"
                        )
                    self._retry.sleep(self._retry.backoff.delay(attempt))
                    attempt += 1
            self._backlog.admit(len(batch))


def read_units_for(dynamodb: Any, table: str, share: float, on_demand_units: float) -> float:
    """Read units per second: ``share`` of provisioned capacity, or of ``on_demand_units``.

    An on-demand table has no provisioned figure; its ``OnDemandThroughput`` maximum
    is used when set, else ``on_demand_units``.
    """
    description = dynamodb.describe_table(TableName=table)["Table"]
    provisioned = int(
        (description.get("ProvisionedThroughput") or {}).get("ReadCapacityUnits") or 0
    )
    maximum = int((description.get("OnDemandThroughput") or {}).get("MaxReadRequestUnits") or 0)
    base = provisioned or (maximum if maximum > 0 else on_demand_units)
    return max(1.0, base * share)
