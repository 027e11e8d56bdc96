"""No loss under faults: a seeded workload through the whole local hub while AWS misbehaves.

One chaos run for the module (the hub's deployment is the slow part): inserts,
updates, deletes, TTL expiries, oversize items, items the webhook endpoints
refuse, and poison records, under throttled and failed PublishBatch entries,
failed SQS sends and deletes, timed-out and crashed invocations, failing
side effects, duplicated messages and re-delivered stream batches. Each test
asserts one guarantee from docs/reliability.md. The ledger is printed (-s).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from fanout.chaos.runner import DEFAULT_RATES, ChaosResult, run_chaos
from fanout.chaos.workload import REFUSED_MARK
from fanout.local.faults import CRASH_ERROR, TIMEOUT_ERROR, FaultPlan, FaultRates, FaultyInvoker
from fanout.local.invoker import CallableInvoker
from fanout.local.ledger import Status, balanced
from fanout.local.model import FunctionSpec

pytestmark = pytest.mark.e2e

SIZE = 50
SEED = 20261127
# The router sees one or two batches in a small run: its faults get higher rates so each
# fires (every stream batch is delivered twice, within each record's fault budget).
# Faults with few chances in a 50-record run (failed writes after the fact, dead-letter
# sends, webhook 503s) are raised too, so that every kind fires whatever the timing.
RATES = dataclasses.replace(
    DEFAULT_RATES,
    consumer_error_after=0.25,
    publish_throttled=0.3,
    redeliver_stream_batch=1.0,
    crash_mid_batch=0.2,
    handler_timeout=0.3,
    sqs_send_failed=0.8,
    webhook_unavailable=0.3,
)


@pytest.fixture(scope="module")
def chaos() -> Any:
    # Two chunks: the second is written once the first has drained.
    result = run_chaos(SIZE, SEED, RATES, timeout=100, chunk=SIZE // 2 + 1)
    print("\n".join(result.ledger))  # noqa: T201 - the ledger is the run's report (pytest -s)
    return result


class TestNothingIsLost:
    """Every stream record reaches every consumer that selects it, or a DLQ with its reason."""

    def test_the_hub_drains(self, chaos: ChaosResult):
        assert chaos.quiet, chaos.ledger

    def test_every_delivery_is_accounted_for(self, chaos: ChaosResult):
        assert balanced(chaos.rows), chaos.problems["no_loss"]
        assert chaos.problems["no_loss"] == []

    def test_only_planned_refusals_are_dead_lettered_with_their_reason(self, chaos: ChaosResult):
        dead = [r for r in chaos.rows if r.status is Status.CONSUMER_DLQ]
        assert dead
        assert {r.consumer for r in dead} == {"webhook"}
        assert all(REFUSED_MARK in r.record.label and "HTTP 400" in r.reason for r in dead)
        assert chaos.problems["dead_letters"] == []


class TestRouterAccounting:
    """Records in = distinct envelopes SNS accepted + records in the router DLQ."""

    def test_records_balance(self, chaos: ChaosResult):
        assert chaos.problems["router_accounting"] == []

    def test_re_published_records_count_once(self, chaos: ChaosResult):
        router = chaos.figures["router"]
        assert router["published_entries"] > router["published"]  # SNS saw duplicates
        assert router["records_in"] == router["published"] + router["router_dlq"]

    def test_poison_records_are_in_the_router_dlq(self, chaos: ChaosResult):
        poison = [r for r in chaos.rows if r.record.poison is not None]
        assert poison
        assert all(r.status is Status.ROUTER_DLQ for r in poison)


class TestExactlyOnceInEffect:
    """Duplicates, retries and replays leave each effect applied once."""

    def test_audit_log_holds_one_object_per_event(self, chaos: ChaosResult):
        assert chaos.problems["audit_log"] == []

    def test_projection_equals_the_source_table(self, chaos: ChaosResult):
        assert chaos.problems["projection"] == []

    def test_each_webhook_endpoint_accepts_each_event_once(self, chaos: ChaosResult):
        assert chaos.problems["webhook"] == []


class TestFaultsWereInjected:
    """The run proves something only if every fault actually happened."""

    def test_every_fault_kind_fired(self, chaos: ChaosResult):
        kinds = {f.name for f in dataclasses.fields(FaultRates)}
        assert kinds - set(chaos.injected) == set(), chaos.injected


# ---------------------------------------------------------------- the harness itself
FUNCTION = FunctionSpec(name="consumer", handler="x.handler", timeout_seconds=3)


def an_sqs_event(count: int) -> dict[str, Any]:
    return {
        "Records": [
            {"messageId": f"m{i}", "receiptHandle": f"r{i}", "body": f'{{"id": "e{i}"}}'}
            for i in range(count)
        ]
    }


class TestFaultyInvoker:
    """Invocation faults do what Lambda does: effects may happen, the invocation fails."""

    def invoker(self, seen: list[str], **rates: float) -> FaultyInvoker:
        def handler(event: dict[str, Any], _context: Any) -> None:
            seen.extend(r["messageId"] for r in event["Records"])

        plan = FaultPlan(1, FaultRates(**rates), max_faults_per_item=1)
        return FaultyInvoker(CallableInvoker({"consumer": handler}), plan)

    def test_crash_mid_batch_runs_part_of_the_batch_then_fails(self):
        seen: list[str] = []
        invocation = self.invoker(seen, crash_mid_batch=1.0).invoke(FUNCTION, an_sqs_event(4))
        assert invocation.error_type == CRASH_ERROR
        assert 1 <= len(seen) < 4
        assert seen == [f"m{i}" for i in range(len(seen))]

    def test_timeout_reports_failure_after_the_effects(self):
        seen: list[str] = []
        invocation = self.invoker(seen, handler_timeout=1.0).invoke(FUNCTION, an_sqs_event(2))
        assert invocation.error_type == TIMEOUT_ERROR
        assert seen == ["m0", "m1"]

    def test_the_budget_lets_every_item_through_in_the_end(self):
        seen: list[str] = []
        invoker = self.invoker(seen, handler_timeout=1.0)
        outcomes = [invoker.invoke(FUNCTION, an_sqs_event(2)).failed for _ in range(3)]
        assert outcomes == [True, False, False]


class TestFaultPlan:
    """Decisions depend on the seed and the item, not on timing."""

    def decisions(self, seed: int) -> list[bool]:
        plan = FaultPlan(seed, FaultRates(consumer_error=0.5), max_faults_per_item=100)
        return [plan.should("consumer_error", "f", [f"item-{i}"]) for i in range(200)]

    def test_same_seed_same_faults(self):
        assert self.decisions(7) == self.decisions(7)

    def test_other_seed_other_faults(self):
        assert self.decisions(7) != self.decisions(8)

    def test_rate_is_respected(self):
        assert 70 <= sum(self.decisions(7)) <= 130
