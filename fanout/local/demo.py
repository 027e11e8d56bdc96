"""`fanout local up --demo`: a realistic stream, a live view per queue, and the no-loss proof.

The stream holds inserts, updates, a delete, a TTL expiry (moto runs no TTL
process: the item is deleted and its REMOVE record carries the TTL identity),
an item of ~300 KB (claim check), and a poison record (injected through the
emulator, since DynamoDB can't store an attribute of an unknown type). The
webhook consumer points at a closed local port, so its deliveries fail, are
retried and end in its DLQ, as when a partner's endpoint is down.
"""

from __future__ import annotations

import sys
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Final, Self, TextIO

from boto3.dynamodb.types import TypeSerializer

from fanout.local.deadletters import processed
from fanout.local.hub import LOCAL_SECRET_PREFIX, LocalHub
from fanout.local.ledger import Row, Status, Subscriber, account, balanced, totals
from fanout.local.observe import InvocationOutcome

# The webhook consumer is deployed for the demo with an endpoint that refuses
# connections (port 9, "discard", closed on any laptop) and a throwaway secret,
# stored in the local Secrets Manager by the hub (LOCAL_SECRET_PREFIX).
DEMO_PARAMETERS: Final = {
    "WebhookUrls": "https://127.0.0.1:9/hooks/orders",
    "WebhookSecretArn": f"{LOCAL_SECRET_PREFIX}local-demo-secret",
}
OVERSIZE_BYTES: Final = 300_000
# Injected records get sequence numbers far above moto's (22 digits), so they can
# never collide with a real record.
INJECTED_SEQUENCE_BASE: Final = 10**29


@dataclass
class DemoWrites:
    """What the demo wrote besides plain table operations."""

    operations: list[str] = field(default_factory=list)
    injected: list[dict[str, Any]] = field(default_factory=list)
    ttl_keys: list[dict[str, Any]] = field(default_factory=list)


class Table:
    """Writes items to the hub's source table, whatever its key names (read from the table)."""

    def __init__(self, hub: LocalHub) -> None:
        self.hub = hub
        self.client = hub.clients.client("dynamodb")
        schema = self.client.describe_table(TableName=hub.table_name)["Table"]["KeySchema"]
        self.hash = next(k["AttributeName"] for k in schema if k["KeyType"] == "HASH")
        self.range = next((k["AttributeName"] for k in schema if k["KeyType"] == "RANGE"), None)
        self._serialise = TypeSerializer().serialize

    def key(self, pk: str, sk: str) -> dict[str, Any]:
        """The item key in DynamoDB's encoding (the sort key only when the table has one)."""
        key = {self.hash: {"S": pk}}
        if self.range:
            key[self.range] = {"S": sk}
        return key

    def put(self, pk: str, sk: str, **attributes: Any) -> None:
        """PutItem of the key and ``attributes`` (plain Python values)."""
        item = {**self.key(pk, sk), **{k: self._serialise(v) for k, v in attributes.items()}}
        self.client.put_item(TableName=self.hub.table_name, Item=item)

    def update(self, pk: str, sk: str, **attributes: Any) -> None:
        """UpdateItem setting ``attributes``."""
        names = {f"#a{i}": name for i, name in enumerate(attributes)}
        values = {f":v{i}": self._serialise(v) for i, v in enumerate(attributes.values())}
        expression = ", ".join(f"#a{i} = :v{i}" for i in range(len(attributes)))
        self.client.update_item(
            TableName=self.hub.table_name,
            Key=self.key(pk, sk),
            UpdateExpression=f"SET {expression}",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )

    def delete(self, pk: str, sk: str) -> None:
        """DeleteItem of the key."""
        self.client.delete_item(TableName=self.hub.table_name, Key=self.key(pk, sk))


def poison_record(hub: LocalHub, index: int = 1) -> dict[str, Any]:
    """A Lambda-format INSERT the router can never normalise: an attribute of unknown type."""
    table = Table(hub)
    key = table.key(f"ORDER#poison-{index}", "ORDER")
    return {
        "eventID": uuid.uuid4().hex,
        "eventName": "INSERT",
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": hub.region,
        "dynamodb": {
            "ApproximateCreationDateTime": int(time.time()),
            "Keys": key,
            "NewImage": {**key, "total": {"ZZ": "not a DynamoDB type"}},
            "SequenceNumber": str(INJECTED_SEQUENCE_BASE + index),
            "SizeBytes": 64,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        },
        "eventSourceARN": hub.stream_arn,
    }


def write_demo_stream(hub: LocalHub) -> DemoWrites:
    """Write the demo's items; returns the records injected and the keys expired by TTL."""
    table = Table(hub)
    writes = DemoWrites()

    def did(text: str) -> None:
        writes.operations.append(text)

    for n in range(1, 5):
        table.put(
            f"ORDER#{n}",
            "ORDER",
            status="placed",
            total=Decimal(f"{n}9.99"),
            lines=[{"sku": f"SKU-{n}", "qty": n}],
            tags={"new", "web"},
            receipt=b"\x00\x01binary",
        )
        did(f"insert ORDER#{n}")
    for n in range(1, 3):
        table.put(f"CUSTOMER#{n}", "PROFILE", name=f"Customer {n}", tier="gold")
        did(f"insert CUSTOMER#{n}")
    table.update("ORDER#1", "ORDER", status="paid")
    table.update("ORDER#2", "ORDER", status="shipped", carrier="DHL")
    did("update ORDER#1, ORDER#2")
    table.delete("ORDER#4", "ORDER")
    did("delete ORDER#4")
    table.put("SESSION#1", "SESSION", user="CUSTOMER#1", expires_at=int(time.time()) - 60)
    session = table.key("SESSION#1", "SESSION")
    hub.emulator.mark_ttl_expiry(hub.table_arn, session)
    table.delete("SESSION#1", "SESSION")
    writes.ttl_keys.append(session)
    did("TTL expiry SESSION#1")
    table.put("DOCUMENT#1", "DOCUMENT", title="scan", body="x" * OVERSIZE_BYTES)
    did(f"insert DOCUMENT#1 (~{OVERSIZE_BYTES // 1000} KB: claim check)")
    poison = poison_record(hub)
    hub.emulator.inject(hub.stream_arn, poison)
    writes.injected.append(poison)
    did("poison record (injected)")
    return writes


# ---------------------------------------------------------------- live view
@dataclass(frozen=True, slots=True)
class QueueStats:
    """One row of the live view."""

    name: str
    delivered: int
    processed: int
    retried: int
    dead: int


def stats(hub: LocalHub, subscribers: Sequence[Subscriber]) -> list[QueueStats]:
    """Per function: deliveries, successes, retries, and its dead-letter depth."""
    log = hub.log
    router = hub.deployment.router.name
    rows = [
        QueueStats(
            "router (stream)",
            log.count(InvocationOutcome.DELIVERED, router),
            log.count(InvocationOutcome.SUCCEEDED, router),
            log.count(InvocationOutcome.RETRIED, router)
            + log.count(InvocationOutcome.BISECTED, router),
            hub.depth(hub.router_dlq_url) + log.count(InvocationOutcome.DISCARDED, router),
        )
    ]
    # A message the consumer dead-lettered itself is done for the mapping (deleted from
    # the queue) but not processed: it is counted in its DLQ instead.
    rows.extend(
        QueueStats(
            s.label,
            log.count(InvocationOutcome.DELIVERED, s.function),
            processed(
                log.identifiers(InvocationOutcome.SUCCEEDED, s.function),
                hub.dead_letters.of(s.name),
            ),
            log.count(InvocationOutcome.RETRIED, s.function),
            hub.depth(s.dlq_url) if s.dlq_url else 0,
        )
        for s in subscribers
    )
    return rows


HEADERS: Final = ("queue", "delivered", "processed", "retried", "in DLQ")


def plain_line(row: QueueStats) -> str:
    """One queue's counters as a log-friendly line."""
    return (
        f"{row.name}: delivered={row.delivered} processed={row.processed} "
        f"retried={row.retried} in_dlq={row.dead}"
    )


class LiveView:
    """rich live table on a terminal; a line per change otherwise."""

    def __init__(self, out: TextIO, *, rich_output: bool) -> None:
        self._out = out
        self._rich = rich_output
        self._last: dict[str, QueueStats] = {}
        self._live: Any = None

    def __enter__(self) -> Self:
        if self._rich:
            from rich.console import Console  # noqa: PLC0415 - only on a terminal
            from rich.live import Live  # noqa: PLC0415 - same

            self._live = Live(console=Console(file=self._out), refresh_per_second=4)
            self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.__exit__(*exc)

    def note(self, line: str) -> None:
        """Print a line above the live table (or as a plain line)."""
        if self._live is not None:
            self._live.console.print(line, markup=False, highlight=False)
            return
        print(line, file=self._out, flush=True)

    def update(self, rows: Sequence[QueueStats]) -> None:
        """Show the newest counters."""
        if self._live is not None:
            self._live.update(_rich_table(rows, "fanout-hub (local)"))
            return
        for row in rows:
            if self._last.get(row.name) != row:
                self._last[row.name] = row
                print(plain_line(row), file=self._out, flush=True)


def _rich_table(rows: Sequence[QueueStats], title: str) -> Any:
    from rich.table import Table  # noqa: PLC0415 - only on a terminal

    table = Table(title=title)
    for header in HEADERS:
        table.add_column(header, justify="left" if header == "queue" else "right")
    for row in rows:
        table.add_row(
            row.name,
            str(row.delivered),
            str(row.processed),
            str(row.retried),
            f"[red]{row.dead}[/red]" if row.dead else "0",
        )
    return table


# ---------------------------------------------------------------- summary
def summary_lines(rows: Sequence[Row]) -> list[str]:
    """The per-record accounting as text lines."""
    by_record: dict[str, list[Row]] = {}
    for row in rows:
        by_record.setdefault(f"{row.record.sequence}|{row.record.label}", []).append(row)
    lines = []
    for record_rows in by_record.values():
        record = record_rows[0].record
        parts = [
            f"{r.consumer}={r.status}" + (f" ({r.reason})" if r.reason else "") for r in record_rows
        ]
        lines.append(f"  {record.label[:70]}: " + "; ".join(parts))
    return lines


def verdict(rows: Sequence[Row], record_count: int) -> str:
    """The last line: balanced or not, with the totals."""
    counts = ", ".join(f"{status}={n}" for status, n in sorted(totals(rows).items()))
    if balanced(rows):
        return f"BALANCED: all {record_count} stream records accounted for ({counts})"
    lost = sum(1 for r in rows if r.status in {Status.MISSING, Status.UNEXPECTED})
    return f"NOT BALANCED: {lost} deliveries unaccounted for ({counts})"


def run_demo(
    hub: LocalHub,
    *,
    out: TextIO = sys.stdout,
    rich_output: bool | None = None,
    timeout: float = 90.0,
    echo: Callable[[str], None] | None = None,
) -> bool:
    """Write the demo stream, watch it flow, print the accounting; True when it balances."""
    say = echo or (lambda text: print(text, file=out, flush=True))
    use_rich = out.isatty() if rich_output is None else rich_output
    subscribers = hub.subscribers()
    say(f"consumers: {', '.join(s.label for s in subscribers)}")
    writes = write_demo_stream(hub)
    say("wrote: " + "; ".join(writes.operations))
    deadline = time.monotonic() + timeout
    quiet = False
    with LiveView(out, rich_output=use_rich) as view:
        while time.monotonic() < deadline:
            view.update(stats(hub, subscribers))
            if hub.wait_until_quiet(timeout=0.5, settle=0.0) and hub.wait_until_quiet(
                timeout=min(5.0, max(0.1, deadline - time.monotonic())), settle=1.5
            ):
                quiet = True
                view.update(stats(hub, subscribers))
                break
    if not quiet:
        say(f"the hub did not go quiet within {timeout:.0f} s")
    sources = hub.sources(writes.injected, writes.ttl_keys)
    rows = account(sources, subscribers, hub.evidence(subscribers))
    say("accounting (every record, every consumer whose filter policy matches):")
    for line in summary_lines(rows):
        say(line)
    say(verdict(rows, len(sources)))
    return quiet and balanced(rows)


def parameters_for_demo(extra: Mapping[str, str]) -> dict[str, str]:
    """The demo's template parameters, overridable from the command line."""
    return {**DEMO_PARAMETERS, **extra}
