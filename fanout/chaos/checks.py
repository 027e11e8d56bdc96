"""The chaos run's checks: what each consumer did, compared with what the source says it should have."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any, Final

from boto3.dynamodb.types import TypeDeserializer

from consumers.runtime.settings import settings_environment
from fanout.chaos.receiver import WEBHOOK_ENDPOINTS, WebhookReceiver
from fanout.chaos.workload import REFUSED_MARK
from fanout.local.faults import FaultPlan
from fanout.local.hub import LocalHub
from fanout.local.ledger import Row, SourceRecord, Status

CHECK_READERS: Final = 4


def _plain(value: Any) -> Any:
    """DynamoDB-deserialised values with numbers compared exactly (as Decimal text)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Decimal):
        return str(value.normalize())
    return value


class Checks:
    """Compares what each consumer did with what the source says it should have done."""

    def __init__(
        self,
        hub: LocalHub,
        sources: Sequence[SourceRecord],
        rows: Sequence[Row],
        plan: FaultPlan,
        receiver: WebhookReceiver,
    ) -> None:
        self.hub = hub
        self.sources = sources
        self.rows = rows
        self.plan = plan
        self.receiver = receiver
        self.problems: dict[str, list[str]] = {}
        self._check = ""
        self.figures: dict[str, Any] = {}
        by_consumer: dict[str, dict[Status, set[str]]] = defaultdict(lambda: defaultdict(set))
        for row in rows:
            if row.record.envelope_id:
                by_consumer[row.consumer][row.status].add(row.record.envelope_id)
        self.by_consumer = by_consumer
        self.bodies = {s.envelope_id: json.loads(s.body) for s in sources if s.envelope_id}

    def run(self) -> dict[str, list[str]]:
        """Every check, by name, with the problems it found (empty when it holds)."""
        for check in (
            self.no_loss,
            self.router_accounting,
            self.dead_letters,
            self.audit_log,
            self.projection,
            self.webhook,
        ):
            self._check = check.__name__
            self.problems[self._check] = []
            try:
                check()
            except Exception as exc:  # noqa: BLE001 - a check that cannot run is a failed check
                self.fail(f"could not check: {exc!r}")
        return self.problems

    def fail(self, text: str, examples: Sequence[object] = ()) -> None:
        """Record a problem with up to five examples."""
        shown = ", ".join(map(str, list(examples)[:5]))
        self.problems.setdefault(self._check, []).append(
            text + (f" (e.g. {shown})" if shown else "")
        )

    def no_loss(self) -> None:
        """Nothing missing, nothing delivered that no filter selects."""
        lost = [r for r in self.rows if r.status in {Status.MISSING, Status.UNEXPECTED}]
        if lost:
            self.fail(
                f"{len(lost)} deliveries unaccounted for",
                [f"{r.consumer}:{r.record.label}:{r.status}" for r in lost],
            )

    def router_accounting(self) -> None:
        """Records in = published (distinct) + router DLQ (distinct); nothing in both."""
        poison = {s.sequence for s in self.sources if s.poison is not None}
        expected = {s.envelope_id for s in self.sources if s.poison is None and s.envelope_id}
        published = set(self.plan.published)
        dead = set(self.hub.evidence([]).router_dlq)
        failed_batches = self.hub.failed_batches()
        self.figures["router"] = {
            "records_in": len(self.sources),
            "published": len(published),
            "published_entries": sum(self.plan.published.values()),
            "router_dlq": len(dead),
            "failed_batches": len(failed_batches),
        }
        if published != expected:
            self.fail(
                f"published {len(published)} distinct envelopes, expected {len(expected)}",
                sorted(published ^ expected),
            )
        if dead != poison:
            self.fail("router DLQ does not hold exactly the poison records", sorted(dead ^ poison))
        if failed_batches:
            self.fail("records discarded to the failed-batch store", sorted(failed_batches))
        if len(self.sources) != len(published) + len(dead):
            self.fail(
                f"records in {len(self.sources)} != published {len(published)} + router DLQ {len(dead)}"
            )

    def dead_letters(self) -> None:
        """Only the planned refusals are in a consumer DLQ, and each has its reason."""
        for row in self.rows:
            if row.status is not Status.CONSUMER_DLQ:
                continue
            planned = row.consumer == "webhook" and REFUSED_MARK in row.record.label
            if not planned:
                self.fail(f"{row.consumer}: unplanned dead letter", [row.record.label, row.reason])
            elif "HTTP 400" not in row.reason:
                self.fail(f"{row.consumer}: dead letter without its reason", [row.reason])
        refused = {
            r.record.envelope_id
            for r in self.rows
            if r.consumer == "webhook" and REFUSED_MARK in r.record.label
        }
        if refused - self.by_consumer["webhook"][Status.CONSUMER_DLQ]:
            missing = refused - self.by_consumer["webhook"][Status.CONSUMER_DLQ]
            self.fail(
                "refused webhook events not in the webhook DLQ", sorted(filter(None, missing))
            )

    def _function_env(self, label: str) -> Mapping[str, str]:
        subscriber = next(s for s in self.hub.subscribers() if s.label == label)
        return settings_environment(self.hub.deployment.function(subscriber.function).environment)

    def audit_log(self) -> None:
        """Exactly one object per processed event, holding that event."""
        bucket = self._function_env("audit-log")["AUDIT_BUCKET"]
        s3 = self.hub.clients.client("s3")
        keys = [
            item["Key"]
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
            for item in page.get("Contents", [])
        ]

        def read(key: str) -> Any:
            return json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())

        objects: Counter[str] = Counter()
        mismatched: list[str] = []
        # One GetObject per event: a few at a time, so a large run's check takes minutes, not hours.
        with ThreadPoolExecutor(CHECK_READERS) as pool:
            for key, stored in zip(keys, pool.map(read, keys), strict=True):
                envelope_id = key.rsplit("/", 1)[-1].removesuffix(".json")
                objects[envelope_id] += 1
                source = self.bodies.get(envelope_id)
                holds_it = source is not None and stored.get("id") == envelope_id
                if not holds_it or (source or {}).get("data") not in (None, stored.get("data")):
                    mismatched.append(key)
        processed = self.by_consumer["audit-log"][Status.PROCESSED]
        self.figures["audit-log"] = {"objects": sum(objects.values())}
        if set(objects) != processed:
            self.fail("audit objects != processed events", sorted(set(objects) ^ processed))
        doubled = [k for k, n in objects.items() if n != 1]
        if doubled:
            self.fail("events archived more than once", doubled)
        if mismatched:
            self.fail("audit objects that do not hold their event", mismatched)

    def _scan(self, table: str) -> list[dict[str, Any]]:
        dynamodb = self.hub.clients.client("dynamodb")
        deserialise = TypeDeserializer().deserialize
        items: list[dict[str, Any]] = []
        for page in dynamodb.get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
            items.extend({k: deserialise(v) for k, v in item.items()} for item in page["Items"])
        return items

    def _subjects(self) -> dict[str, str]:
        """An item key (as sorted JSON) -> the envelope subject the router gave it."""
        subject_of: dict[str, str] = {}
        for body in self.bodies.values():
            data = body.get("data") or {}
            if data.get("keys") is not None:
                subject_of[json.dumps(data["keys"], sort_keys=True)] = body["subject"]
        return subject_of

    def projection(self) -> None:
        """The read model equals the source table; removed items are tombstones."""
        view = {
            item["pk"]: item
            for item in self._scan(self._function_env("projection")["PROJECTION_TABLE"])
        }
        subject_of = self._subjects()
        sent = {
            self.bodies[i]["subject"]
            for i in self.by_consumer["projection"][Status.PROCESSED]
            | self.by_consumer["projection"][Status.CONSUMER_DLQ]
        }
        live: set[str] = set()
        wrong: list[str] = []
        for item in self._scan(self.hub.table_name):
            subject = subject_of.get(
                json.dumps({"pk": item["pk"], "sk": item["sk"]}, sort_keys=True)
            )
            if subject is None:
                wrong.append(f"table item {item['pk']} never reached the stream")
                continue
            live.add(subject)
            held = view.get(subject) or {"deleted": True}
            if held.get("deleted") or _plain(held.get("item")) != _plain(item):
                wrong.append(f"{subject}: read model differs from the table")
        wrong.extend(
            f"{subject}: removed from the table but no tombstone"
            for subject in sent - live
            if not (view.get(subject) or {}).get("deleted")
        )
        wrong.extend(f"{s}: in the read model, never sent to it" for s in sorted(set(view) - sent))
        self.figures["projection"] = {
            "items": len(view),
            "live": len(live),
            "tombstones": sum(1 for v in view.values() if v.get("deleted")),
        }
        if wrong:
            self.fail(f"{len(wrong)} read-model differences", wrong)

    def webhook(self) -> None:
        """Each processed event accepted exactly once by each endpoint; refusals by none."""
        accepted = self.receiver.accepted()
        processed = self.by_consumer["webhook"][Status.PROCESSED]
        dead = self.by_consumer["webhook"][Status.CONSUMER_DLQ]
        wrong: list[str] = []
        for envelope_id in processed:
            counts = [accepted[(e, envelope_id)] for e in WEBHOOK_ENDPOINTS]
            if counts != [1] * len(WEBHOOK_ENDPOINTS):
                wrong.append(f"{envelope_id}: accepted {counts} times per endpoint")
        wrong.extend(
            f"{envelope_id}: refused yet accepted"
            for envelope_id in dead
            if any(accepted[(e, envelope_id)] for e in WEBHOOK_ENDPOINTS)
        )
        strays = {i for (_, i) in accepted} - processed - dead
        wrong.extend(f"{i}: delivered but not selected" for i in sorted(strays))
        unsigned = [d.event_id for d in self.receiver.deliveries if not d.signed]
        statuses = Counter(d.status for d in self.receiver.deliveries)
        self.figures["webhook"] = {
            "requests": len(self.receiver.deliveries),
            "by_status": dict(sorted(statuses.items())),
        }
        if unsigned:
            self.fail("webhook requests with a bad signature", unsigned)
        if wrong:
            self.fail(f"{len(wrong)} webhook delivery errors", wrong)
