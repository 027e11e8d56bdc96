"""Poison records (``fanout replay poison``): each router DLQ message's record (inline, or
read back from its ``record_ref`` in the router's payload bucket) is sent to the router
again. A record that routes is deleted from the DLQ. One that is still poison is
dead-lettered again by the router itself (a new DLQ message with today's error, which
the replay recognises as a message it had not received before, for a sequence number it
sent, and does not replay again) and the old message is deleted. One SNS still rejects, or whose ``record_ref`` cannot be
followed, stays where it is, untouched, and the error is reported.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from botocore.exceptions import ClientError

from fanout.connection import Connection
from fanout.ops.dlq.peek import release
from fanout.ops.output import NO_PROGRESS, Progress
from fanout.ops.replay.router import DeployedRouter, RoutesRecords, chunks, unpublished_from
from fanout.ops.resolve import Hub
from router.deadletter import KEY_PREFIX as DEAD_LETTER_PREFIX
from router.normalise import sequence_number_of


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
