"""The consumer benchmark at a small size: the runtime's requests per message, per contender.

bench/consumer_bench.py runs each in-repo consumer under the current runtime, the previous
one (0.2.0) and Powertools' idempotency utility, against a moto server, and counts every
DynamoDB and S3 request. These tests hold the counts, not the times: each contender's
requests follow from its protocol and the mix of messages (fresh changes, redeliveries,
late changes), so any extra request per message shows here.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
MESSAGES = 20
ITEM_BYTES = 1024  # each projected item is then over 1 KB and under 2 KB: 2 write units
ENDPOINTS = 2

NEW, PREVIOUS, POWERTOOLS = "new runtime", "previous runtime (0.2.0)", "Powertools idempotency"


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One run of the benchmark at 20 messages: its exit status and its figures."""
    out = tmp_path_factory.mktemp("consumer-bench") / "results.json"
    ran = subprocess.run(  # noqa: S603 - our interpreter, our script, fixed arguments
        [
            sys.executable,
            str(ROOT / "bench" / "consumer_bench.py"),
            "--messages",
            str(MESSAGES),
            "--item-bytes",
            str(ITEM_BYTES),
            "--json",
            str(out),
            "--counts-only",  # the CPU figures are the benchmark's to print, not the test's
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    document = json.loads(out.read_text()) if out.exists() else {}
    return {"returncode": ran.returncode, "stderr": ran.stderr, "stdout": ran.stdout, **document}


def calls(bench: dict[str, Any], consumer: str, contender: str) -> Counter[str]:
    """The requests one contender made for one consumer over the whole workload."""
    [result] = [
        r for r in bench["results"] if r["consumer"] == consumer and r["contender"] == contender
    ]
    return Counter(result["calls"])


def figures(bench: dict[str, Any], consumer: str, contender: str) -> dict[str, Any]:
    [result] = [
        r for r in bench["results"] if r["consumer"] == consumer and r["contender"] == contender
    ]
    return result


def mix(bench: dict[str, Any]) -> tuple[int, int, int]:
    """Fresh changes, redeliveries and late changes in the workload."""
    kinds = bench["kinds"]
    return kinds["fresh"], kinds["redelivery"], kinds["late change"]


class TestTheRun:
    def test_it_meets_every_target_and_says_so_with_its_exit_status(self, bench):
        assert bench["returncode"] == 0, bench["stderr"][-2000:]
        assert bench["messages"] == MESSAGES
        fresh, redelivered, late = mix(bench)
        assert fresh > 0
        assert redelivered > 0
        assert late > 0
        targets = [r["target"] for r in bench["results"] if r["contender"] == NEW]
        assert len(targets) == 3
        assert all(met for _, met in targets)

    def test_the_table_has_a_row_per_consumer_and_contender_and_the_targets_met(self, bench):
        rows = [
            [cell.strip() for cell in line.strip("|").split("|")]
            for line in bench["stdout"].splitlines()
            if line.startswith("|") and not line.startswith("|-")
        ]
        cells = {(row[0].split(" (")[0], row[1]): row[-1] for row in rows[1:]}
        consumers = ("projection", "webhook", "audit-log")
        contenders = (NEW, PREVIOUS, POWERTOOLS)
        assert set(cells) == {(c, k) for c in consumers for k in contenders}
        assert all(cells[c, NEW].endswith(" ok") for c in consumers)


class TestProjection:
    """GIVEN the projection's messages WHEN each contender consumes them THEN these requests."""

    def test_the_new_runtime_makes_one_conditional_put_per_message_and_no_read(self, bench):
        assert calls(bench, "projection", NEW) == Counter({"dynamodb:PutItem": MESSAGES})
        result = figures(bench, "projection", NEW)
        assert result["rcu"] == 0
        # Every put, applied or refused by its condition, is charged for a 1-2 KB item.
        assert result["wcu"] == 2 * MESSAGES

    def test_the_previous_runtime_claims_checks_marks_and_completes(self, bench):
        fresh, redelivered, late = mix(bench)
        assert calls(bench, "projection", PREVIOUS) == Counter(
            {
                # a claim per delivery, the projection's put per fresh change
                "dynamodb:PutItem": (fresh + redelivered + late) + fresh,
                # the stale check, for every message not already completed
                "dynamodb:GetItem": fresh + late,
                # the sequence mark per applied change, the completion per claim taken
                "dynamodb:UpdateItem": fresh + (fresh + late),
            }
        )

    def test_powertools_claims_and_completes_around_the_projections_put(self, bench):
        fresh, redelivered, late = mix(bench)
        assert calls(bench, "projection", POWERTOOLS) == Counter(
            {
                "dynamodb:PutItem": (fresh + redelivered + late) + (fresh + late),
                "dynamodb:UpdateItem": fresh + late,
            }
        )


class TestWebhook:
    """A late change is a new event to an endpoint: only redeliveries are duplicates."""

    def test_the_new_runtime_claims_and_completes_once_per_endpoint(self, bench):
        fresh, redelivered, late = mix(bench)
        events = fresh + late
        assert calls(bench, "webhook", NEW) == Counter(
            {
                "dynamodb:PutItem": ENDPOINTS * (events + redelivered),
                "dynamodb:UpdateItem": ENDPOINTS * events,
            }
        )

    @pytest.mark.parametrize("contender", [PREVIOUS, POWERTOOLS])
    def test_the_other_contenders_add_their_own_claim_and_completion(self, bench, contender):
        fresh, redelivered, late = mix(bench)
        events = fresh + late
        assert calls(bench, "webhook", contender) == Counter(
            {
                "dynamodb:PutItem": (events + redelivered) + ENDPOINTS * events,
                "dynamodb:UpdateItem": events + ENDPOINTS * events,
            }
        )


class TestAuditLog:
    """One conditional S3 PUT per delivery is the whole protocol."""

    @pytest.mark.parametrize("contender", [NEW, PREVIOUS])
    def test_the_runtimes_make_no_dynamodb_request(self, bench, contender):
        assert calls(bench, "audit-log", contender) == Counter({"s3:PutObject": MESSAGES})

    def test_powertools_adds_a_claim_per_delivery_and_a_completion_per_event(self, bench):
        fresh, redelivered, late = mix(bench)
        events = fresh + late
        assert calls(bench, "audit-log", POWERTOOLS) == Counter(
            {
                "dynamodb:PutItem": events + redelivered,
                "dynamodb:UpdateItem": events,
                "s3:PutObject": events,
            }
        )
