"""No-loss accounting: every stream record is delivered to each consumer it matches, or is
in a dead-letter store with its reason.

The expected side comes from the source, not from the emulator: the stream is
re-read from TRIM_HORIZON, every record is normalised with the router's own
code, and each consumer's subscription filter policy is applied to the
envelope's attributes. The actual side is what consumers finished (messages
deleted after success), what sits in every DLQ, and the router's failed-batch
store.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from fanout.local.observe import BatchEvent, InvocationOutcome
from fanout.ops.filtering import FilterPolicy


class Status(StrEnum):
    """Where one (record, consumer) pair ended up."""

    PROCESSED = "processed"
    CONSUMER_DLQ = "in consumer DLQ"
    ROUTER_DLQ = "in router DLQ"
    FAILED_BATCH = "in failed-batch store"
    MISSING = "MISSING"
    UNEXPECTED = "UNEXPECTED"


LOST = frozenset({Status.MISSING, Status.UNEXPECTED})


@dataclass(frozen=True, slots=True)
class SourceRecord:
    """A stream record and what the router makes of it."""

    sequence: str
    label: str
    envelope_id: str | None
    event_type: str | None
    attributes: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    body: str = ""
    poison: str | None = None


@dataclass(frozen=True, slots=True)
class Subscriber:
    """A consumer as the topic sees it: its function and its filter policy."""

    function: str
    queue_url: str
    dlq_url: str | None
    filter_policy: Mapping[str, Any] | None = None
    filter_policy_scope: str = "MessageAttributes"
    name: str = ""

    @property
    def label(self) -> str:
        """A short name for people (the consumer's name), else the function name."""
        return self.name or self.function

    def matches(self, record: SourceRecord) -> bool:
        """Would SNS deliver this record's envelope to this consumer's queue?"""
        policy = FilterPolicy(self.filter_policy or {}, self.filter_policy_scope)
        return policy.matches(record.attributes, record.body)


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the summary."""

    record: SourceRecord
    consumer: str
    status: Status
    reason: str = ""


@dataclass
class Evidence:
    """What the hub actually did, gathered after it went quiet."""

    processed: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    consumer_dlq: dict[str, dict[str, str]] = field(default_factory=lambda: defaultdict(dict))
    router_dlq: dict[str, str] = field(default_factory=dict)
    failed_batches: dict[str, str] = field(default_factory=dict)

    def add_events(self, events: Iterable[BatchEvent], consumers: Iterable[str]) -> None:
        """Envelope ids each consumer finished, from the emulator's SUCCEEDED facts."""
        wanted = set(consumers)
        for event in events:
            if event.outcome is not InvocationOutcome.SUCCEEDED or event.function not in wanted:
                continue
            for body in event.bodies:
                envelope_id = envelope_id_of(body)
                if envelope_id:
                    self.processed[event.function].add(envelope_id)


def envelope_id_of(body: str) -> str | None:
    """The CloudEvents id of an envelope body (raw or inside an SNS notification)."""
    try:
        document = json.loads(body)
    except ValueError:
        return None
    if isinstance(document, dict) and document.get("Type") == "Notification":
        return envelope_id_of(str(document.get("Message", "")))
    if isinstance(document, dict) and isinstance(document.get("id"), str):
        return str(document["id"])
    return None


def _router_row(record: SourceRecord, evidence: Evidence) -> Row | None:
    """Where a record stopped before the topic, if it did."""
    if record.sequence in evidence.failed_batches:
        return Row(record, "router", Status.FAILED_BATCH, evidence.failed_batches[record.sequence])
    if record.poison is None:
        return None
    if record.sequence in evidence.router_dlq:
        return Row(record, "router", Status.ROUTER_DLQ, evidence.router_dlq[record.sequence])
    return Row(record, "router", Status.MISSING, record.poison)


def _consumer_row(record: SourceRecord, subscriber: Subscriber, evidence: Evidence) -> Row:
    envelope_id = record.envelope_id or ""
    dead = evidence.consumer_dlq[subscriber.function]
    if envelope_id in dead:
        return Row(record, subscriber.label, Status.CONSUMER_DLQ, dead[envelope_id])
    if envelope_id in evidence.processed[subscriber.function]:
        return Row(record, subscriber.label, Status.PROCESSED)
    return Row(record, subscriber.label, Status.MISSING)


def account(
    sources: Sequence[SourceRecord], subscribers: Sequence[Subscriber], evidence: Evidence
) -> list[Row]:
    """One row per (record, consumer) that should have it, plus any delivery nobody expected."""
    rows: list[Row] = []
    expected: dict[str, set[str]] = defaultdict(set)
    for record in sources:
        stopped = _router_row(record, evidence)
        if stopped is not None:
            rows.append(stopped)
            continue
        for subscriber in subscribers:
            if subscriber.matches(record):
                expected[subscriber.function].add(record.envelope_id or "")
                rows.append(_consumer_row(record, subscriber, evidence))
    by_id = {r.envelope_id: r for r in sources if r.envelope_id}
    for subscriber in subscribers:
        seen = evidence.processed[subscriber.function] | set(
            evidence.consumer_dlq[subscriber.function]
        )
        for envelope_id in sorted(seen - expected[subscriber.function]):
            record = by_id.get(envelope_id) or SourceRecord(
                "?", "unknown envelope", envelope_id, None
            )
            rows.append(
                Row(record, subscriber.label, Status.UNEXPECTED, "its filter policy does not match")
            )
    return rows


def balanced(rows: Iterable[Row]) -> bool:
    """True when every row is accounted for (nothing missing, nothing unexpected)."""
    return all(row.status not in LOST for row in rows)


def totals(rows: Iterable[Row]) -> dict[Status, int]:
    """How many rows per status."""
    counts: dict[Status, int] = defaultdict(int)
    for row in rows:
        counts[row.status] += 1
    return dict(counts)
