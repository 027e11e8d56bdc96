"""The no-loss chaos run: a seeded workload through the local hub under injected faults.

``run_chaos`` starts the local hub (moto server, template.yaml, the real router
and the three consumers), points the webhook consumer at a local HTTPS receiver
with two endpoints, injects the faults of ``fanout.local.faults``, writes a
workload of inserts, updates, deletes, TTL expiries, oversize items (claim
check), items the webhook endpoints refuse, and poison records, waits until the
hub is quiet, and then checks, independently of the emulator's own bookkeeping:

- router: every stream record was published (distinct envelope ids SNS
  accepted) or is in the router DLQ; records in = published + router DLQ;
- every consumer: each event its filter policy selects was processed, or sits in
  its DLQ with a reason, and only the refusals we planned are in a DLQ;
- audit log: exactly one object per event, holding that event;
- projection: the read model equals the source table now (tombstones for
  deleted and expired items);
- webhook: each event accepted exactly once per endpoint (the per-endpoint
  delivery ledger), every request correctly signed.

The ledger it prints is the same for the e2e test and ``bench/chaos.py``.
"""

from __future__ import annotations

import datetime as dt
import io
import ipaddress
import json
import os
import random
import ssl
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Final

from boto3.dynamodb.types import TypeDeserializer

from consumers.runtime.settings import settings_environment
from consumers.webhook.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from fanout.connection import queue_url_of
from fanout.local.demo import Table, plain_line, poison_record, stats
from fanout.local.esm import EmulatorSettings
from fanout.local.faults import (
    DeleteFaults,
    FaultPlan,
    FaultRates,
    FaultyInvoker,
    faulted_function_clients,
    sqs_copier,
)
from fanout.local.hub import LOCAL_SECRET_PREFIX, LocalHub
from fanout.local.ledger import (
    Row,
    SourceRecord,
    Status,
    Subscriber,
    account,
    balanced,
    totals,
)
from fanout.local.observe import Outcome
from fanout.local.queues import QueueSettings
from fanout.local.streams import StreamSettings

WEBHOOK_SECRET: Final = "chaos-run-webhook-secret"  # noqa: S105 - a local receiver's test key
WEBHOOK_ENDPOINTS: Final = ("/hooks/a", "/hooks/b")
# Items whose partition key holds this are refused by both endpoints (HTTP 400).
REFUSED_MARK: Final = "refused"
OVERSIZE_BYTES: Final = 300_000
# Handler logs are kept in memory (for a failing test to show) only for small runs.
KEEP_LOGS_UP_TO: Final = 5_000
# A long run reports progress this often (seconds), and checks its backlog this often.
PROGRESS_EVERY: Final = 60.0
THROTTLE_POLL_SECONDS: Final = 1.0
CHECK_READERS: Final = 4
# Rates the test and the script use unless told otherwise.
DEFAULT_RATES: Final = FaultRates(
    publish_entry_failed=0.1,
    publish_throttled=0.1,
    sqs_send_failed=0.3,
    sqs_delete_failed=0.1,
    handler_timeout=0.1,
    consumer_error=0.1,
    consumer_error_after=0.05,
    crash_mid_batch=0.1,
    duplicate_message=0.1,
    redeliver_stream_batch=0.2,
    webhook_unavailable=0.1,
)


# ---------------------------------------------------------------- a local HTTPS receiver
def self_signed_certificate(directory: Path, *dns_names: str) -> tuple[Path, Path]:
    """A certificate and key for 127.0.0.1 (and ``dns_names``), valid for a day (written to ``directory``)."""
    from cryptography import x509  # noqa: PLC0415 - tooling only, installed with moto
    from cryptography.hazmat.primitives import hashes, serialization  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric import ec  # noqa: PLC0415
    from cryptography.x509.oid import NameOID  # noqa: PLC0415

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                    *(x509.DNSName(name) for name in dns_names),
                ]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "receiver.pem", directory / "receiver.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@dataclass
class Delivery:
    """One POST the receiver answered."""

    endpoint: str
    event_id: str
    status: int
    signed: bool


class WebhookReceiver:
    """An HTTPS server standing in for partners' endpoints; records every request.

    It answers 503 at the plan's ``webhook_unavailable`` rate (budgeted like any
    fault), 400 for items marked as refused, and 200 otherwise.
    """

    def __init__(self, plan: FaultPlan, scope: Callable[[], str], secret: str) -> None:
        self.plan = plan
        self._scope = scope
        self._secret = secret
        self.deliveries: list[Delivery] = []
        self._lock = threading.Lock()
        self._directory = tempfile.TemporaryDirectory(prefix="fanout-chaos-")
        self.cert_path, key_path = self_signed_certificate(Path(self._directory.name))
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_path, key_path)
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def urls(self) -> list[str]:
        """The endpoints' https URLs."""
        port = self._server.server_address[1]
        return [f"https://127.0.0.1:{port}{path}" for path in WEBHOOK_ENDPOINTS]

    def start(self) -> WebhookReceiver:
        """Serve in a background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and remove the certificate."""
        self._server.shutdown()
        self._server.server_close()
        self._directory.cleanup()

    def accepted(self) -> Counter[tuple[str, str]]:
        """(endpoint, event id) -> how many times it was answered 2xx."""
        with self._lock:
            return Counter((d.endpoint, d.event_id) for d in self.deliveries if d.status == 200)  # noqa: PLR2004

    def _answer(self, endpoint: str, body: bytes, headers: Mapping[str, str]) -> int:
        event_id = headers.get("X-Fanout-Event-Id", "")
        signed = verify(
            self._secret,
            body,
            headers.get(TIMESTAMP_HEADER, ""),
            headers.get(SIGNATURE_HEADER, ""),
            now=time.time(),
        )
        try:
            subject = str(json.loads(body).get("subject", ""))
        except ValueError:
            subject = ""
        if endpoint not in WEBHOOK_ENDPOINTS or not signed:
            status = 401
        elif REFUSED_MARK in subject:
            status = 400
        elif self.plan.should(
            "webhook_unavailable", self._scope(), [event_id], f"{endpoint}|{event_id}"
        ):
            status = 503
        else:
            status = 200
        with self._lock:
            self.deliveries.append(Delivery(endpoint, event_id, status, signed))
        return status

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                status = receiver._answer(self.path, body, dict(self.headers.items()))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                return

        return Handler


# ---------------------------------------------------------------- the workload
@dataclass(frozen=True, slots=True)
class Mix:
    """What share of the workload each kind of record is (the rest: inserts/updates/deletes)."""

    poison: float = 0.02
    oversize: float = 0.02
    refused: float = 0.03
    ttl: float = 0.02


@dataclass
class Workload:
    """What was written: counts by kind, and what the accounting needs to know."""

    counts: Counter[str] = field(default_factory=Counter)
    injected: list[dict[str, Any]] = field(default_factory=list)
    ttl_keys: list[dict[str, Any]] = field(default_factory=list)
    versions: Counter[int] = field(default_factory=Counter)  # updates so far per item


def _share(size: int, rate: float) -> int:
    return 0 if rate <= 0 else max(1, round(size * rate))


def plan_operations(size: int, seed: int, mix: Mix) -> list[tuple[str, int]]:
    """``size`` operations ``(kind, item number)`` in a reproducible order."""
    rng = random.Random(seed)  # noqa: S311 - a workload, not a secret  # nosec B311
    special = [
        *(("poison", i) for i in range(_share(size, mix.poison))),
        *(("oversize", i) for i in range(_share(size, mix.oversize))),
        *(("refused", i) for i in range(_share(size, mix.refused))),
    ]
    ttl = _share(size, mix.ttl)
    plain = max(0, size - len(special) - ttl * 2)
    operations: list[tuple[str, int]] = []
    live: list[int] = []
    next_item = 0
    for _ in range(plain):
        roll = rng.random()
        if not live or roll < 0.5:  # noqa: PLR2004 - half inserts
            operations.append(("insert", next_item))
            live.append(next_item)
            next_item += 1
        elif roll < 0.8:  # noqa: PLR2004 - then updates
            operations.append(("update", rng.choice(live)))
        else:
            item = live.pop(rng.randrange(len(live)))
            operations.append(("delete", item))
    for i in range(ttl):
        operations.extend([("session", i), ("expire", i)])
    for entry in special:
        operations.insert(rng.randrange(len(operations) + 1), entry)
    return operations


def write_workload(
    hub: LocalHub, operations: Sequence[tuple[str, int]], workload: Workload | None = None
) -> Workload:
    """Write every operation to the source table (poison records are injected)."""
    # The demo's table writer: it reads the key schema from the table (pk/sk in template.yaml).
    writer = Table(hub)
    workload = workload or Workload()
    versions = workload.versions
    for kind, n in operations:
        workload.counts[kind] += 1
        if kind == "insert":
            writer.put(
                f"ORDER#{n}",
                "ORDER",
                status="placed",
                # More digits than a float holds: the projection must keep every one.
                total=Decimal(f"{n}.12345678901234567890123456789"),
                lines=[{"sku": f"SKU-{n % 7}", "qty": n % 5 + 1}],
            )
        elif kind == "update":
            versions[n] += 1
            writer.update(f"ORDER#{n}", "ORDER", status=f"state-{versions[n]}", version=versions[n])
        elif kind == "delete":
            writer.delete(f"ORDER#{n}", "ORDER")
        elif kind == "oversize":
            writer.put(f"DOCUMENT#{n}", "DOCUMENT", title=f"scan {n}", body="x" * OVERSIZE_BYTES)
        elif kind == "refused":
            writer.put(f"CUSTOMER#{REFUSED_MARK}-{n}", "PROFILE", name=f"Customer {n}")
        elif kind == "session":
            writer.put(f"SESSION#{n}", "SESSION", user=f"CUSTOMER#{n}", expires_at=1)
        elif kind == "expire":
            key = writer.key(f"SESSION#{n}", "SESSION")
            hub.emulator.mark_ttl_expiry(hub.table_arn, key)
            writer.delete(f"SESSION#{n}", "SESSION")
            workload.ttl_keys.append(key)
        elif kind == "poison":
            record = poison_record(hub, n + 1)
            hub.emulator.inject(hub.stream_arn, record)
            workload.injected.append(record)
    return workload


# ---------------------------------------------------------------- the run
@dataclass
class ChaosResult:
    """Everything a run found; ``ok`` when every check passed."""

    size: int
    seed: int
    rates: FaultRates
    seconds: float
    quiet: bool
    rows: list[Row]
    problems: dict[str, list[str]]  # check name -> what it found wrong
    ledger: list[str]
    injected: dict[str, int] = field(default_factory=dict)
    figures: dict[str, Any] = field(default_factory=dict)  # per check: what it counted

    @property
    def ok(self) -> bool:
        """The hub went quiet, every record is accounted for, every check passed."""
        return self.quiet and balanced(self.rows) and not any(self.problems.values())


@contextmanager
def _trusting(cert_path: Path) -> Iterator[None]:
    # The webhook consumer refuses http URLs at cold start, so the receiver
    # speaks TLS with its own certificate, trusted through OpenSSL's SSL_CERT_FILE.
    saved = os.environ.get("SSL_CERT_FILE")
    os.environ["SSL_CERT_FILE"] = str(cert_path)
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("SSL_CERT_FILE", None)
        else:
            os.environ["SSL_CERT_FILE"] = saved


def run_chaos(
    size: int,
    seed: int,
    rates: FaultRates = DEFAULT_RATES,
    *,
    mix: Mix | None = None,
    max_faults_per_item: int = 3,
    timeout: float = 600.0,
    chunk: int | None = None,
    backlog: int | None = None,
    moto_process: bool = False,
    visibility_seconds: int | None = None,
    say: Callable[[str], None] = print,
) -> ChaosResult:
    """Run ``size`` stream records through the local hub under faults; check and account.

    ``chunk``: write that many records at a time. With ``backlog`` None the hub
    drains (goes quiet) after each chunk; with a number, the next chunk is
    written as soon as at most that many messages and stream records are in
    flight, so the hub never idles between chunks. Either way the backlog stays
    bounded: every queue scan in moto is linear in the queue's length, and a
    long queue slows every call, invocations included.

    ``moto_process``: run moto in a child process, so that its work and the
    handlers' run on two cores instead of sharing one interpreter lock.

    ``visibility_seconds``: the consumer queues' visibility timeout for this run
    (never below a function's timeout, as the template requires). A message
    whose batch the emulator itself lost (a poller error) reappears after that
    long instead of the template's 6 x timeout.
    """
    started = time.monotonic()
    plan = FaultPlan(seed, rates, max_faults_per_item=max_faults_per_item)
    webhook_function: list[str] = []
    receiver = WebhookReceiver(
        plan, lambda: webhook_function[0] if webhook_function else "", WEBHOOK_SECRET
    ).start()
    # Lambda's own stream pace (four GetRecords a second): faster polling only adds moto
    # requests, as the router's batching window (1 s) holds records longer than that anyway.
    settings = EmulatorSettings(
        stream=StreamSettings(),
        queue=QueueSettings(wait_seconds=1, retry_visibility_seconds=0),
    )
    hub = LocalHub(
        parameters={
            "WebhookUrls": ",".join(receiver.urls),
            "WebhookSecretArn": f"{LOCAL_SECRET_PREFIX}{WEBHOOK_SECRET}",
        },
        settings=settings,
        handler_output=io.StringIO() if size <= KEEP_LOGS_UP_TO else _Discard(),
        start_emulator=False,
        moto_process=moto_process,
    )
    try:
        with _trusting(receiver.cert_path), faulted_function_clients(plan), hub:
            sqs = hub.clients.client("sqs")
            invoker = FaultyInvoker(
                hub.emulator.invoker,
                plan,
                send_copy=sqs_copier(sqs, lambda arn: queue_url_of(sqs, arn)),
            )
            DeleteFaults(plan, invoker.receipts).attach(sqs)
            hub.emulator.invoker = invoker
            subscribers = hub.subscribers()
            webhook_function.extend(s.function for s in subscribers if s.label == "webhook")
            if visibility_seconds is not None:
                _shorten_visibility(hub, subscribers, visibility_seconds)
            hub.emulator.start()
            up = time.monotonic()
            say(f"hub up in {up - started:.1f} s; writing {size} records")
            operations = plan_operations(size, seed, mix or Mix())
            step = chunk or len(operations) or 1
            workload = Workload()
            quiet, written = _write_paced(
                hub, subscribers, operations, workload, step, backlog, up + timeout, say
            )
            drained = time.monotonic()
            say(f"last write at {written - started:.1f} s, quiet after {drained - written:.1f} s")
            sources = hub.sources(workload.injected, workload.ttl_keys)
            evidence = hub.evidence(subscribers)
            rows = account(sources, subscribers, evidence)
            checks = Checks(hub, sources, rows, plan, receiver)
            problems = checks.run()
            labels = {s.function: s.label for s in subscribers}
            labels[hub.deployment.router.name] = "router"
            seconds = time.monotonic() - started
            ledger = ledger_lines(
                size, seed, rates, seconds, workload, rows, checks, plan, hub, quiet
            )
            names = sorted(invoker.invocations, key=lambda n: labels.get(n, n))
            pacing = f"chunks of {step}" + (
                "" if backlog is None else f", next chunk once <= {backlog} in flight"
            )
            ledger.insert(
                1,
                f"phases: hub up {up - started:.1f} s, writes and drains {drained - up:.1f} s "
                f"({pacing}), checks {time.monotonic() - drained:.1f} s; "
                "handler runs (seconds inside): "
                + ", ".join(
                    f"{labels.get(name, name)}={invoker.invocations[name]} "
                    f"({invoker.busy_seconds[name]:.0f} s)"
                    for name in names
                )
                + f"; emulator poller errors={len(hub.emulator.errors)}",
            )
    finally:
        receiver.stop()
    return ChaosResult(
        size,
        seed,
        rates,
        seconds,
        quiet,
        rows,
        problems,
        ledger,
        dict(plan.injected),
        checks.figures,
    )


def _write_paced(
    hub: LocalHub,
    subscribers: Sequence[Subscriber],
    operations: Sequence[tuple[str, int]],
    workload: Workload,
    step: int,
    backlog: int | None,
    deadline: float,
    say: Callable[[str], None],
) -> tuple[bool, float]:
    """Write ``operations`` ``step`` at a time, paced by ``backlog``, then drain.

    Returns whether the hub went quiet every time it had to, and when the last write was.
    """
    up = written = time.monotonic()
    quiet = True
    report_at = up + PROGRESS_EVERY
    for first in range(0, len(operations), step):
        if first and backlog is not None:
            quiet = _throttle(hub, subscribers, backlog, deadline) and quiet
        write_workload(hub, operations[first : first + step], workload)
        written = time.monotonic()
        done = min(first + step, len(operations))
        if backlog is None and done < len(operations):
            quiet = _drain(hub, subscribers, deadline - time.monotonic(), say) and quiet
            say(f"{done} records written and drained")
        elif time.monotonic() >= report_at:
            report_at = time.monotonic() + PROGRESS_EVERY
            say(
                f"{done} records written in {written - up:.0f} s "
                f"({done / max(written - up, 1e-9):.1f} records/s); "
                + "; ".join(plain_line(row) for row in stats(hub, subscribers))
            )
    quiet = _drain(hub, subscribers, deadline - time.monotonic(), say) and quiet
    return quiet, written


def _shorten_visibility(hub: LocalHub, subscribers: Sequence[Subscriber], seconds: int) -> None:
    """Set each consumer queue's visibility timeout, kept above its function's timeout."""
    sqs = hub.clients.client("sqs")
    for subscriber in subscribers:
        function = hub.deployment.function(subscriber.function)
        floor = int(function.timeout_seconds) + 1
        sqs.set_queue_attributes(
            QueueUrl=subscriber.queue_url,
            Attributes={"VisibilityTimeout": str(max(seconds, floor))},
        )


def in_flight(hub: LocalHub, subscribers: Sequence[Subscriber]) -> int:
    """Stream records read but unresolved, plus messages queued or in flight on every queue."""
    return hub.emulator.stream_backlog() + sum(hub.depth(s.queue_url) for s in subscribers)


def _throttle(
    hub: LocalHub, subscribers: Sequence[Subscriber], backlog: int, deadline: float
) -> bool:
    """Wait until at most ``backlog`` records and messages are in flight; False at the deadline."""
    while in_flight(hub, subscribers) > backlog:
        if time.monotonic() > deadline:
            return False
        time.sleep(THROTTLE_POLL_SECONDS)
    return True


def _drain(
    hub: LocalHub,
    subscribers: Sequence[Subscriber],
    timeout: float,
    say: Callable[[str], None],
    every: float = 60.0,
) -> bool:
    """Wait until the hub is quiet, reporting progress every ``every`` seconds."""
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        if hub.wait_until_quiet(timeout=min(every, left)):
            return True
        say("draining: " + "; ".join(plain_line(row) for row in stats(hub, subscribers)))
    return False


class _Discard(io.StringIO):
    """Handler logs of a big run: not kept (they would hold every line in memory)."""

    def write(self, text: str) -> int:
        return len(text)


# ---------------------------------------------------------------- independent checks
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


# ---------------------------------------------------------------- the ledger
def _deliveries(hub: LocalHub, function: str) -> tuple[int, int]:
    """(messages handed to the function, successes beyond the first per event)."""
    from fanout.local.ledger import envelope_id_of  # noqa: PLC0415 - small helper

    delivered = hub.log.count(Outcome.DELIVERED, function)
    per_event: Counter[str] = Counter()
    for event in hub.log.events:
        if event.outcome is Outcome.SUCCEEDED and event.function == function:
            per_event.update(filter(None, (envelope_id_of(b) for b in event.bodies)))
    return delivered, sum(n - 1 for n in per_event.values())


def ledger_lines(
    size: int,
    seed: int,
    rates: FaultRates,
    seconds: float,
    workload: Workload,
    rows: Sequence[Row],
    checks: Checks,
    plan: FaultPlan,
    hub: LocalHub,
    quiet: bool,  # noqa: FBT001 - a plain fact for the ledger
) -> list[str]:
    """The printed ledger: workload, faults, router and per-consumer accounting, verdict."""
    lines = [
        (
            f"chaos run: {size} records, seed {seed}, {seconds:.1f} s "
            f"({seconds / max(size, 1) * 1000:.1f} ms per record), quiet={quiet}"
        ),
        "workload: " + ", ".join(f"{k}={n}" for k, n in sorted(workload.counts.items())),
        f"fault rates: {rates.describe()} (at most {plan.max_faults_per_item} per item per function)",
        "faults injected: "
        + (", ".join(f"{k}={n}" for k, n in sorted(plan.injected.items())) or "none"),
    ]
    router = checks.figures.get("router", {})
    router_function = hub.deployment.router.name
    invocations = hub.log.count(Outcome.DELIVERED, router_function)
    lines.append(
        f"router: records in={router.get('records_in')} = published={router.get('published')} "
        f"+ router DLQ={router.get('router_dlq')} (failed-batch store={router.get('failed_batches')}); "
        f"PublishBatch entries accepted={router.get('published_entries')} "
        f"(re-published duplicates={router.get('published_entries', 0) - router.get('published', 0)}); "
        f"records handed to the router={invocations}"
    )
    per_consumer: dict[str, Counter[Status]] = defaultdict(Counter)
    for row in rows:
        per_consumer[row.consumer][row.status] += 1
    for subscriber in hub.subscribers():
        counts = per_consumer.get(subscriber.label, Counter())
        delivered, duplicates = _deliveries(hub, subscriber.function)
        reasons = Counter(
            r.reason[:60]
            for r in rows
            if r.consumer == subscriber.label and r.status is Status.CONSUMER_DLQ
        )
        extra = checks.figures.get(subscriber.label, {})
        lines.append(
            f"{subscriber.label}: expected={sum(counts.values())} "
            f"processed={counts[Status.PROCESSED]} in DLQ={counts[Status.CONSUMER_DLQ]} "
            f"missing={counts[Status.MISSING]} unexpected={counts[Status.UNEXPECTED]}; "
            f"messages delivered={delivered}, duplicate successes absorbed={duplicates}"
            + (f"; {extra}" if extra else "")
            + (f"; DLQ reasons: {dict(reasons)}" if reasons else "")
        )
    summary = ", ".join(f"{status}={n}" for status, n in sorted(totals(rows).items()))
    lines.append(f"rows: {summary}")
    problems = [f"{name}: {p}" for name, found in checks.problems.items() for p in found]
    if problems:
        lines.append(f"NOT OK: {len(problems)} problem(s)")
        lines.extend(f"  - {p}" for p in problems)
    elif quiet and balanced(rows):
        lines.append("OK: nothing lost, every effect exactly once, the read model equals the table")
    else:
        lines.append("NOT OK: the hub did not go quiet" if not quiet else "NOT OK: not balanced")
    return lines
