"""The chaos run's workload: a reproducible plan of operations, written to the source table."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Final

from fanout.local.demo import Table, poison_record
from fanout.local.hub import LocalHub

# Items whose partition key holds this are refused by both webhook endpoints (HTTP 400).
REFUSED_MARK: Final = "refused"
OVERSIZE_BYTES: Final = 300_000


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
