"""Fault injection for the local hub: seeded, reproducible, at configurable rates.

Faults are injected where they happen in AWS, without touching product code:

- on every boto3 client a *function* builds (router, consumers), through
  botocore's event hooks: ``PublishBatch`` entries answered ``Failed`` and whole
  calls throttled, ``SendMessage`` refused (dead-letter writes), and a
  consumer's side-effect write (audit ``PutObject``, projection ``PutItem``)
  failing before it happens or after it happened (an ambiguous failure);
- on the event-source-mapping emulator's own SQS client: ``DeleteMessageBatch``
  entries failing after a successful invocation, so the message comes back;
- around the invoker (``FaultyInvoker``): an invocation reported as timed out
  after its effects happened, an invocation killed after part of its batch, a
  stream batch delivered twice, and an SQS message duplicated on its queue
  (SNS and SQS standard are at-least-once).

Every decision is a hash of (seed, fault kind, item, attempt), so a run with the
same seed and workload makes the same decisions whatever the thread timing.
Each item has a budget of injected faults per function (``max_faults_per_item``,
default 3), kept below the queues' ``maxReceiveCount`` (5) and the stream
mapping's ``MaximumRetryAttempts`` (5): an injected fault delays an item but can never push it
into a dead-letter store. Every item therefore must end where it would without
faults, which is what the chaos run checks.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, Final

import botocore.session
from botocore.exceptions import ClientError

from consumers.runtime.settings import settings_environment
from fanout.local.invoker import Invocation, Invoker
from fanout.local.ledger import envelope_id_of
from fanout.local.model import FunctionSpec
from fanout.local.records import sequence_of

# Retryable codes, as SNS/SQS/S3/DynamoDB return them under load.
# https://docs.aws.amazon.com/sns/latest/api/CommonErrors.html
THROTTLED: Final = "Throttling"
INTERNAL: Final = "InternalError"
SERVICE_UNAVAILABLE: Final = "ServiceUnavailable"
# What Lambda reports when the runtime process dies mid-invocation.
# https://docs.aws.amazon.com/lambda/latest/dg/troubleshooting-invocation.html
CRASH_ERROR: Final = "Runtime.ExitError"
TIMEOUT_ERROR: Final = "Sandbox.Timedout"
# Environment variables naming a consumer's side-effect target (see consumers/*/).
EFFECT_TARGETS: Final = {"s3": "AUDIT_BUCKET", "dynamodb": "PROJECTION_TABLE"}
# Faults that add a delivery instead of failing one (they use no receive or retry).
COPYING_FAULTS: Final = frozenset({"duplicate_message", "redeliver_stream_batch"})


@dataclass(frozen=True, slots=True)
class FaultRates:
    """Probability of each fault per opportunity (0 disables it)."""

    publish_entry_failed: float = 0.0  # per PublishBatch entry: Failed, InternalError
    publish_throttled: float = 0.0  # per PublishBatch call: Throttling for the whole call
    sqs_send_failed: float = 0.0  # per SendMessage by a function (its dead-letter writes)
    sqs_delete_failed: float = 0.0  # per DeleteMessageBatch entry by the queue poller
    handler_timeout: float = 0.0  # per invocation: effects happen, reported as timed out
    consumer_error: float = 0.0  # per consumer side-effect write: fails before it happens
    consumer_error_after: float = 0.0  # per side-effect write: fails after it happened
    crash_mid_batch: float = 0.0  # per invocation of 2+ records: dies after part of it
    duplicate_message: float = 0.0  # per SQS message: a copy is put on its queue
    redeliver_stream_batch: float = 0.0  # per stream invocation: delivered twice
    webhook_unavailable: float = 0.0  # per webhook POST: the endpoint answers 503

    @classmethod
    def uniform(cls, rate: float) -> FaultRates:
        """Every fault at the same rate."""
        return cls(**{f.name: rate for f in fields(cls)})

    def describe(self) -> str:
        """The non-zero rates, one ``name=rate`` each."""
        return ", ".join(f"{f.name}={getattr(self, f.name):g}" for f in fields(self)) or "none"


class FaultPlan:
    """Decides, counts and budgets every injected fault; thread-safe."""

    def __init__(
        self,
        seed: int,
        rates: FaultRates,
        *,
        max_faults_per_item: int = 3,
        max_copies_per_item: int = 1,
    ) -> None:
        self.seed = seed
        self.rates = rates
        self.max_faults_per_item = max_faults_per_item
        self.max_copies_per_item = max_copies_per_item
        self.injected: Counter[str] = Counter()
        self.published: Counter[str] = Counter()  # envelope id -> successful PublishBatch entries
        self._attempts: Counter[tuple[str, str]] = Counter()
        self._spent: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()

    def _roll(self, kind: str, key: str) -> float:
        with self._lock:
            attempt = self._attempts[(kind, key)]
            self._attempts[(kind, key)] += 1
        digest = hashlib.sha256(f"{self.seed}|{kind}|{key}|{attempt}".encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2**64

    def should(self, kind: str, scope: str, items: Sequence[str], key: str | None = None) -> bool:
        """True (and the items' budgets charged) when ``kind`` strikes this time.

        Faults that fail a delivery share one budget per (function, item); extra
        copies (duplicates, re-deliveries) have their own, as they fail nothing.
        """
        rate = float(getattr(self.rates, kind))
        if rate <= 0 or not items:
            return False
        if self._roll(kind, key or "|".join(items)) >= rate:
            return False
        copying = kind in COPYING_FAULTS
        budget = f"{scope}|{kind}" if copying else scope
        limit = self.max_copies_per_item if copying else self.max_faults_per_item
        with self._lock:
            if any(self._spent[(budget, i)] >= limit for i in items):
                return False
            for item in items:
                self._spent[(budget, item)] += 1
            self.injected[kind] += 1
        return True

    def pick(self, kind: str, key: str, upper: int) -> int:
        """A reproducible integer in ``[1, upper]`` (where a batch is cut)."""
        return 1 + int(self._roll(f"{kind}-pick", key) * upper) % upper

    def note_published(self, envelope_ids: Sequence[str]) -> None:
        """Record entries SNS accepted."""
        with self._lock:
            self.published.update(envelope_ids)


def item_of(text: str) -> str:
    """The item a message body is about: its envelope id, a dead letter's sequence, or a hash."""
    envelope_id = envelope_id_of(text)
    if envelope_id:
        return envelope_id
    with contextlib.suppress(ValueError, AttributeError):
        sequence = json.loads(text).get("sequence_number")
        if sequence:
            return str(sequence)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _injected_error(code: str, operation: str, status: int = 500) -> ClientError:
    response: Any = {
        "Error": {"Code": code, "Message": "injected fault"},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return ClientError(response, operation)


class _Ok:
    """Stands in for botocore's HTTP response when a call is answered without being sent."""

    status_code = 200
    headers: Mapping[str, str] = {}


# ---------------------------------------------------------------- hooks on functions' clients
class FunctionClientFaults:
    """botocore hooks for one client built inside a function invocation."""

    def __init__(self, plan: FaultPlan, scope: str, environment: Mapping[str, str]) -> None:
        self.plan = plan
        self.scope = scope
        settings = settings_environment(environment)
        self.targets = {s: settings.get(v, "") for s, v in EFFECT_TARGETS.items()}
        self._call = threading.local()

    def attach(self, client: Any) -> None:
        """Register the hooks that apply to this client's service."""
        events = client.meta.events
        service = client.meta.service_model.service_name
        if service == "sns":
            events.register("before-parameter-build.sns.PublishBatch", self._publish_params)
            events.register("before-call.sns.PublishBatch", self._publish_call)
            events.register("after-call.sns.PublishBatch", self._publish_result)
        elif service == "sqs":
            events.register("before-parameter-build.sqs.SendMessage", self._send_message)
        elif service == "s3" and self.targets["s3"]:
            events.register("before-parameter-build.s3.PutObject", self._effect_before)
            events.register("after-call.s3.PutObject", self._effect_after)
        elif service == "dynamodb" and self.targets["dynamodb"]:
            events.register("before-parameter-build.dynamodb.PutItem", self._effect_before)
            events.register("after-call.dynamodb.PutItem", self._effect_after)

    # -- SNS PublishBatch: per-entry Failed and whole-call Throttling
    def _publish_params(self, params: dict[str, Any], **_: Any) -> None:
        entries = params["PublishBatchRequestEntries"]
        items = {e["Id"]: item_of(e["Message"]) for e in entries}
        call = self._call
        call.throttled = self.plan.should("publish_throttled", self.scope, list(items.values()))
        call.dropped, call.items = [], items
        if call.throttled:
            return
        kept = []
        for entry in entries:
            if self.plan.should("publish_entry_failed", self.scope, [items[entry["Id"]]]):
                call.dropped.append(
                    {
                        "Id": entry["Id"],
                        "Code": INTERNAL,
                        "Message": "injected fault",
                        "SenderFault": False,
                    }
                )
            else:
                kept.append(entry)
        params["PublishBatchRequestEntries"] = kept

    def _publish_call(self, **_: Any) -> Any:
        call = self._call
        if call.throttled:
            raise _injected_error(THROTTLED, "PublishBatch", 400)
        if len(call.dropped) == len(call.items):
            # Every entry failed: answer without the call SNS would refuse as empty.
            return _Ok(), {"Successful": [], "Failed": []}
        return None

    def _publish_result(self, parsed: dict[str, Any], **_: Any) -> None:
        call = self._call
        self.plan.note_published([call.items[ok["Id"]] for ok in parsed.get("Successful", [])])
        parsed.setdefault("Failed", []).extend(call.dropped)

    # -- SQS SendMessage (dead letters)
    def _send_message(self, params: dict[str, Any], **_: Any) -> None:
        item = item_of(str(params.get("MessageBody", "")))
        if self.plan.should("sqs_send_failed", self.scope, [item]):
            raise _injected_error(INTERNAL, "SendMessage")

    # -- a consumer's side effect
    def _effect_item(self, params: Mapping[str, Any]) -> str | None:
        if params.get("Bucket") == self.targets["s3"] and params.get("Key"):
            return str(params["Key"]).rsplit("/", 1)[-1].removesuffix(".json")
        if params.get("TableName") == self.targets["dynamodb"]:
            return str(params.get("Item", {}).get("envelope_id", {}).get("S", "")) or None
        return None

    def _effect_before(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        item = self._effect_item(params)
        self._call.after_item = item
        if item and self.plan.should("consumer_error", self.scope, [item]):
            raise _injected_error(SERVICE_UNAVAILABLE, model.name, 503)

    def _effect_after(self, http_response: Any, model: Any, **_: Any) -> None:
        item = getattr(self._call, "after_item", None)
        if item is None or getattr(http_response, "status_code", 500) >= 300:  # noqa: PLR2004
            return
        if self.plan.should("consumer_error_after", self.scope, [item]):
            # The write happened; the caller never hears so (a lost response).
            raise _injected_error(INTERNAL, model.name)


_inside = threading.local()


def current_function() -> FunctionSpec | None:
    """The function whose invocation runs on this thread, if any."""
    return getattr(_inside, "function", None)


@contextlib.contextmanager
def faulted_function_clients(plan: FaultPlan) -> Iterator[None]:
    """While active, every botocore client created inside a ``FaultyInvoker`` invocation gets hooks.

    A function builds its clients during an invocation (cold start or first use),
    while the invoker has set the function's environment, so the hooks learn the
    function's side-effect targets from ``os.environ`` then.
    """
    original = botocore.session.Session.create_client

    def create_client(session: Any, *args: Any, **kwargs: Any) -> Any:
        client = original(session, *args, **kwargs)
        function = current_function()
        if function is not None:
            FunctionClientFaults(plan, function.name, dict(os.environ)).attach(client)
        return client

    botocore.session.Session.create_client = create_client  # type: ignore[method-assign,assignment]
    try:
        yield
    finally:
        botocore.session.Session.create_client = original  # type: ignore[method-assign]


# ---------------------------------------------------------------- the poller's deletes
class DeleteFaults:
    """Fails ``DeleteMessageBatch`` entries on the emulator's SQS client.

    A failed delete leaves the message in flight until its visibility timeout; the
    local hub shortens that wait (as ``retry_visibility_seconds`` does for retries)
    by making it visible at once, so it is received, and handled, again.
    """

    def __init__(self, plan: FaultPlan, items: Mapping[str, tuple[str, str]]) -> None:
        self.plan = plan
        self._items = items  # receipt handle -> (function, item), kept by FaultyInvoker
        self._call = threading.local()

    def attach(self, client: Any) -> None:
        """Hook the client's DeleteMessageBatch."""
        self._client = client
        events = client.meta.events
        events.register("before-parameter-build.sqs.DeleteMessageBatch", self._params)
        events.register("before-call.sqs.DeleteMessageBatch", self._call_hook)
        events.register("after-call.sqs.DeleteMessageBatch", self._result)

    def _params(self, params: dict[str, Any], **_: Any) -> None:
        kept, dropped = [], []
        for entry in params["Entries"]:
            function, item = self._items.get(entry["ReceiptHandle"], ("", ""))
            if item and self.plan.should("sqs_delete_failed", function, [item]):
                dropped.append(entry)
            else:
                kept.append(entry)
        params["Entries"] = kept
        self._call.kept, self._call.dropped = len(kept), dropped
        self._call.queue_url = params["QueueUrl"]

    def _call_hook(self, **_: Any) -> Any:
        if self._call.dropped and not self._call.kept:
            # Every entry failed: answer without the call SQS would refuse as empty.
            return _Ok(), {"Successful": [], "Failed": []}
        return None

    def _result(self, parsed: dict[str, Any], **_: Any) -> None:
        dropped = self._call.dropped
        if not dropped:
            return
        parsed.setdefault("Failed", []).extend(
            {"Id": e["Id"], "Code": INTERNAL, "Message": "injected fault", "SenderFault": False}
            for e in dropped
        )
        self._client.change_message_visibility_batch(
            QueueUrl=self._call.queue_url,
            Entries=[
                {"Id": e["Id"], "ReceiptHandle": e["ReceiptHandle"], "VisibilityTimeout": 0}
                for e in dropped
            ],
        )


# ---------------------------------------------------------------- around the invoker
class FaultyInvoker:
    """An Invoker that injects invocation-level faults around another one."""

    def __init__(
        self,
        inner: Invoker,
        plan: FaultPlan,
        *,
        send_copy: Callable[[str, Mapping[str, Any]], None] | None = None,
    ) -> None:
        self.inner = inner
        self.plan = plan
        # Puts a copy of an SQS record back on its queue (given the queue ARN).
        self._send_copy = send_copy
        self.receipts: dict[str, tuple[str, str]] = {}
        # Per function: how many times its handler ran, and for how long (for the ledger).
        self.invocations: Counter[str] = Counter()
        self.busy_seconds: defaultdict[str, float] = defaultdict(float)
        self._lock = threading.Lock()

    def invoke(self, function: FunctionSpec, event: Mapping[str, Any]) -> Invocation:
        """Run the function (through ``inner``) with this plan's faults."""
        records = list(event.get("Records") or [])
        stream = bool(records) and records[0].get("eventSource") == "aws:dynamodb"
        items = [_record_item(r) for r in records]
        scope = function.name
        if not stream:
            self._remember(function, records, items)
            self._duplicate(function, records, items)
        key = f"{scope}|{'|'.join(items)}"
        if stream and self.plan.should("redeliver_stream_batch", scope, items, key):
            self._run(function, event)  # the first delivery's outcome is lost
        if len(records) > 1 and self.plan.should("crash_mid_batch", scope, items, key):
            cut = self.plan.pick("crash_mid_batch", key, len(records) - 1)
            done = self._run(function, {"Records": records[:cut]})
            return Invocation(
                done.request_id,
                error_type=CRASH_ERROR,
                error_message=f"injected: the runtime exited after {cut} of {len(records)} records",
                duration_seconds=done.duration_seconds,
            )
        invocation = self._run(function, event)
        if not invocation.failed and self.plan.should("handler_timeout", scope, items, key):
            return Invocation(
                invocation.request_id,
                error_type=TIMEOUT_ERROR,
                error_message=f"injected: task timed out after {function.timeout_seconds:.2f} seconds",
                duration_seconds=invocation.duration_seconds,
            )
        return invocation

    def _run(self, function: FunctionSpec, event: Mapping[str, Any]) -> Invocation:
        _inside.function = function
        try:
            invocation = self.inner.invoke(function, event)
        finally:
            _inside.function = None
        with self._lock:
            self.invocations[function.name] += 1
            self.busy_seconds[function.name] += invocation.duration_seconds
        return invocation

    def _remember(
        self, function: FunctionSpec, records: Sequence[Mapping[str, Any]], items: Sequence[str]
    ) -> None:
        with self._lock:
            for record, item in zip(records, items, strict=True):
                self.receipts[str(record.get("receiptHandle", ""))] = (function.name, item)

    def _duplicate(
        self, function: FunctionSpec, records: Sequence[Mapping[str, Any]], items: Sequence[str]
    ) -> None:
        if self._send_copy is None:
            return
        for record, item in zip(records, items, strict=True):
            if self.plan.should("duplicate_message", function.name, [item]):
                self._send_copy(str(record.get("eventSourceARN", "")), record)


def _record_item(record: Mapping[str, Any]) -> str:
    if record.get("eventSource") == "aws:dynamodb":
        return sequence_of(record)
    return item_of(str(record.get("body", ""))) or str(record.get("messageId", ""))


def sqs_copier(
    sqs: Any, queue_url_of: Callable[[str], str]
) -> Callable[[str, Mapping[str, Any]], None]:
    """``send_copy`` for ``FaultyInvoker``: SendMessage of the record's body and attributes."""

    def send_copy(queue_arn: str, record: Mapping[str, Any]) -> None:
        # Lambda's record spells attributes in camelCase; SendMessage wants the API's names.
        attributes = {
            name: {"DataType": value.get("dataType", "String"), "StringValue": value["stringValue"]}
            for name, value in (record.get("messageAttributes") or {}).items()
            if "stringValue" in value
        }
        kwargs: dict[str, Any] = {
            "QueueUrl": queue_url_of(queue_arn),
            "MessageBody": record["body"],
        }
        if attributes:
            kwargs["MessageAttributes"] = attributes
        sqs.send_message(**kwargs)

    return send_copy
