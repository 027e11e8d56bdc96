"""CPU cost of normalisation alone: ``router.normalise.to_outbound``, µs per record.

Measures the working tree's normaliser beside baselines (the same two modules
as committed at each ``--baseline-ref``, loaded from git into a private
package), in the same process, alternating rounds so all see the same machine
load. Times are CPU time of this process (``time.process_time``), which another
process on a shared machine barely moves; wall time is printed too. The same
rounds time a fixed pure-Python reference workload, so a figure can be read
against how fast the machine was at that moment (its speed on a shared VM
varies by 2-3x over a day).

Before timing, every normaliser runs over a corpus of varied records (every
operation, view type, attribute type, unicode, odd number forms, poison) and
must give the same Outbound byte for byte, or the same error. Then cProfile
shows where the time goes.

    uv run python bench/normalise_bench.py [--baseline-ref 2103501 --baseline-ref d5f6af4] [--rounds 7]
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import importlib
import io
import pstats
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any

from common import ROOT, header, median, records, table
from support.builders import a_stream_record, load_event

from router import normalise
from router.errors import PoisonRecordError
from router.normalise import EntityRules

# The normaliser before the text writer's fast path (2103501), and before any
# fast path at all (d5f6af4, the commit that introduced the local hub).
DEFAULT_BASELINE_REFS = ("2103501", "d5f6af4")
DEFAULT_BASELINE_REF = DEFAULT_BASELINE_REFS  # the name bench/run_all.py passes to run()
BASELINE_PACKAGE = "baseline_router"
LONG_TEXTS = (
    "x" * 700,
    "é日🚀" * 300,
    'q"' * 400,
    "\\" * 600,
    "tab\t" * 200,
    "\x7f\u2028" * 300,
    "z" * 511,
    "z" * 512,
    "\x00" * 600,
)
SIZES = ((1024, 2000), (100 * 1024, 100))  # (item bytes, records per round)


def load_baseline(ref: str) -> ModuleType | None:
    """``router/normalise.py`` and ``router/attributes.py`` at ``ref``, importable; None without git."""
    package = f"{BASELINE_PACKAGE}_{''.join(c if c.isalnum() else '_' for c in ref)}"
    sources: dict[str, str] = {}
    for name in ("attributes", "normalise"):
        result = subprocess.run(  # noqa: S603 - fixed git argv
            ["git", "show", f"{ref}:router/{name}.py"],  # noqa: S607 - git from PATH
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            print(f"# no baseline: git show {ref}:router/{name}.py failed: {result.stderr.strip()}")
            return None
        sources[name] = result.stdout.replace(
            "from router.attributes", f"from {package}.attributes"
        )
    folder = Path(tempfile.mkdtemp(prefix="bench-baseline-")) / package
    folder.mkdir()
    (folder / "__init__.py").write_text("")
    for name, text in sources.items():
        (folder / f"{name}.py").write_text(text)
    sys.path.insert(0, str(folder.parent))
    return importlib.import_module(f"{package}.normalise")


def corpus(seed: int = 7) -> Iterator[tuple[dict[str, Any], EntityRules]]:
    """Varied records (and rules) on which both normalisers must agree exactly."""
    rng = random.Random(seed)
    plain = EntityRules()
    by_attribute = EntityRules(entity_attribute="kind")
    by_key = EntityRules(partition_key="pk")
    odd_numbers = [
        {"N": n}
        for n in (
            "007",
            "+5.50",
            "1E+3",
            "-0",
            "0.000",
            "1e-7",
            "12345678901234567890123456789012345678",
        )
    ]
    for i in range(400):
        op = rng.choice(["INSERT", "MODIFY", "REMOVE"])
        keys: dict[str, Any] = {
            "pk": f"{rng.choice(['ORDER', 'Cust', 'naïve', ''])}#{i}",
            "sk": rng.choice(["META", "é", "LINE#1"]),
        }
        item = {
            **keys,
            "status": rng.choice(["PLACED", "SHIPPED", 'quote " \\ \n', "日本 🚀", "\ufffe\uffff"]),
            "total": Decimal(rng.choice(["10", "0.1", "-3.25", "1e20"])),
            "flags": {rng.choice(["a", "b", "c"]), "z"},
            "nums": {Decimal(1), Decimal("2.5"), Decimal(-7)},
            "blob": rng.randbytes(rng.randint(0, 40)),
            "bset": {b"\x00", b"\xff\x01", bytes([i % 256])},
            "nested": {"list": [1, "two", None, True, {"x": [Decimal("3.0")]}], "map": {}},
            "none": None,
            "kind": rng.choice(["Order", " Invoice ", ""]),
            f"name-{i % 7}-ü": "v" * rng.randint(0, 300),
            # Long strings take the router's byte-check path: clean ones and ones to escape.
            "long": rng.choice(LONG_TEXTS) * rng.randint(1, 3),
        }
        other = {**item, "status": "OLD", "total": Decimal(i)}
        rules = rng.choice([plain, by_attribute, by_key])
        record = a_stream_record(
            op,
            keys=keys,
            new=item,
            old=other,
            ttl=op == "REMOVE" and rng.random() < 0.3,
            view=rng.choice(["NEW_AND_OLD_IMAGES", "NEW_IMAGE", "OLD_IMAGE", "KEYS_ONLY"]),
            created=rng.choice([1_764_201_600, 1_764_201_600.123, 1_764_201_600.5, 0]),
        )
        if rng.random() < 0.2 and "NewImage" in record["dynamodb"]:
            record["dynamodb"]["NewImage"]["odd"] = rng.choice(odd_numbers)
        yield record, rules
    sample = load_event("dynamodb-update.json")
    for record in sample["Records"]:
        yield record, plain
    # Poison: both must refuse with the same message.
    bad_values = [
        {"N": "NaN"},
        {"ZZ": "1"},
        {"B": "not base64!"},
        {"S": 3},
        {"BOOL": "yes"},
        {"NULL": False},
        {"M": []},
        {"SS": "x"},
        {"S": "a", "N": "1"},
        "plain",
    ]
    for i, bad in enumerate(bad_values):
        record = a_stream_record("INSERT", keys={"pk": f"P#{i}"})
        record["dynamodb"]["NewImage"]["bad"] = bad
        yield record, plain
    for mutate in (
        lambda r: r.pop("eventID"),
        lambda r: r.update(eventName="UPSERT"),
        lambda r: r.update(eventSourceARN="arn:aws:sqs:x"),
        lambda r: r["dynamodb"].update(SequenceNumber="12a"),
        lambda r: r["dynamodb"].update(ApproximateCreationDateTime=True),
        lambda r: r["dynamodb"].update(NewImage=[]),
    ):
        record = a_stream_record("INSERT")
        mutate(record)
        yield record, plain
    yield {"Records": "not a record"}, plain


def outcome(
    to_outbound: Callable[..., Any], record: dict[str, Any], rules: EntityRules
) -> tuple[str, ...]:
    """Every field the Outbound is built from, as text, or the error it raised.

    Derived fields (``init=False``, e.g. ``size``) are left out: older versions
    computed them on demand, and they follow from the rest.
    """
    try:
        out = to_outbound(record, rules)
    except PoisonRecordError as exc:
        return ("PoisonRecordError", str(exc))
    return tuple(repr(getattr(out, f.name)) for f in dataclasses.fields(out) if f.init)


def check_identical(baseline: ModuleType) -> str:
    """Both normalisers write the same Outbound for every corpus record both accept.

    Reasons may differ (they now name the attribute's path and never its value), and
    so may which records are poison (the normaliser became total); those are counted.
    """
    same = reasons = newly_poison = 0
    for record, rules in corpus():
        base_rules = baseline.EntityRules(rules.entity_attribute, rules.partition_key)
        mine = outcome(normalise.to_outbound, record, rules)
        theirs = outcome(baseline.to_outbound, record, base_rules)
        if mine == theirs:
            same += 1
        elif mine[0] == theirs[0] == "PoisonRecordError":
            reasons += 1
        elif mine[0] == "PoisonRecordError":
            newly_poison += 1
        else:
            raise SystemExit(
                f"OUTPUT DIFFERS on {record!r:.300}\nnow:  {mine!r:.600}\nwas:  {theirs!r:.600}"
            )
    return (
        f"{same} identical Outbound or error, {reasons} poison with another reason,"
        f" {newly_poison} poison now (published before)"
    )


def reference_us() -> tuple[float, float]:
    """(CPU µs, wall µs) of a fixed pure-Python workload: how fast the machine is right now."""
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(2000):
        sum(range(100))
    return (time.process_time() - cpu) / 2000 * 1e6, (time.perf_counter() - wall) / 2000 * 1e6


def per_record_us(
    to_outbound: Callable[..., Any], rules: Any, batch: list[dict[str, Any]]
) -> tuple[float, float]:
    """(CPU µs, wall µs) per record for one pass over ``batch``.

    Each message's ``size`` is read twice, as the router does (the claim-check test,
    then packing): some versions measure it once when built, others on every read.
    """
    cpu, wall = time.process_time(), time.perf_counter()
    for record in batch:
        message = to_outbound(record, rules)
        message.size  # noqa: B018 - read for its cost
        message.size  # noqa: B018 - read for its cost
    n = len(batch)
    return (time.process_time() - cpu) / n * 1e6, (time.perf_counter() - wall) / n * 1e6


def profile(batch: list[dict[str, Any]], top: int) -> str:
    """cProfile's top functions (own time) for the working tree's normaliser over ``batch``."""
    rules = EntityRules()
    profiler = cProfile.Profile()
    profiler.enable()
    for record in batch:
        normalise.to_outbound(record, rules)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(top)
    lines = out.getvalue().splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith("ncalls"))
    return "\n".join(line.replace(str(ROOT) + "/", "") for line in lines[start:] if line.strip())


def run(baseline_refs: str | Sequence[str], rounds: int, top: int) -> dict[str, float]:
    """Print the table and profiles; return the medians (for the summary)."""
    if isinstance(baseline_refs, str):
        baseline_refs = [baseline_refs]
    header("Normalisation CPU cost: router.normalise.to_outbound")
    variants: list[tuple[str, Callable[..., Any], Any]] = [
        ("now", normalise.to_outbound, EntityRules())
    ]
    for ref in baseline_refs:
        baseline = load_baseline(ref)
        if baseline is not None:
            print(f"# corpus check vs {ref}: {check_identical(baseline)}")
            variants.append((f"baseline {ref}", baseline.to_outbound, baseline.EntityRules()))
    rows: list[list[object]] = []
    results: dict[str, float] = {}
    for item_bytes, count in SIZES:
        batch = records(count, item_bytes)
        body_bytes = len(normalise.to_outbound(batch[0], EntityRules()).body.encode())
        samples: dict[str, list[tuple[float, float]]] = {name: [] for name, _, _ in variants}
        samples["reference"] = []
        for _ in range(rounds):  # alternate, so a burst of load hits all
            for name, fn, rules in variants:
                samples[name].append(per_record_us(fn, rules, batch))
            samples["reference"].append(reference_us())
        for name, _, _ in variants:
            cpu = median([c for c, _ in samples[name]])
            wall = median([w for _, w in samples[name]])
            results[f"{name}:{item_bytes}"] = cpu
            rows.append(
                [
                    f"{item_bytes // 1024} KB",
                    body_bytes,
                    name,
                    count,
                    rounds,
                    f"{cpu:.1f}",
                    f"{wall:.1f}",
                    f"{min(c for c, _ in samples[name]):.1f}",
                ]
            )
        for name, _, _ in variants[1:]:
            now, was = results[f"now:{item_bytes}"], results[f"{name}:{item_bytes}"]
            rows.append(
                [
                    f"{item_bytes // 1024} KB",
                    "",
                    f"speedup vs {name.removeprefix('baseline ')}",
                    "",
                    "",
                    f"{was / now:.2f}x",
                    "",
                    "",
                ]
            )
        reference = median([c for c, _ in samples["reference"]])
        results[f"reference:{item_bytes}"] = reference
        rows.append(
            [
                f"{item_bytes // 1024} KB",
                "",
                "reference: sum(range(100))",
                "",
                rounds,
                f"{reference:.2f}",
                f"{median([w for _, w in samples['reference']]):.2f}",
                f"{min(c for c, _ in samples['reference']):.2f}",
            ]
        )
    table(
        rows,
        [
            "item",
            "envelope bytes",
            "normaliser",
            "records",
            "rounds",
            "CPU µs/record (median)",
            "wall µs/record (median)",
            "CPU µs (best)",
        ],
    )
    print("# target: < 30 µs per 1 KB record")
    for item_bytes, count in SIZES:
        print(
            f"\n### cProfile, working tree, {item_bytes // 1024} KB items x {count * 2} (tottime order, top {top})"
        )
        print("```")
        print(profile(records(count * 2, item_bytes), top))
        print("```")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--baseline-ref",
        action="append",
        help=f"git ref to compare with (repeatable; default: {', '.join(DEFAULT_BASELINE_REFS)})",
    )
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--top", type=int, default=12)
    args = parser.parse_args()
    run(args.baseline_ref or list(DEFAULT_BASELINE_REFS), args.rounds, args.top)


if __name__ == "__main__":
    main()
