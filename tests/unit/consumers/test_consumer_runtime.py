"""The runtime's delivery guarantees: once per event, failures sorted, nothing lost."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest
from consumer_builders import (
    DynamoDBRequests,
    an_envelope,
    an_sqs_event,
    an_sqs_record,
    failed_ids,
)
from structlog.testing import capture_logs
from support.builders import FakeContext

from consumers.runtime import (
    ConsumerHandler,
    Envelope,
    Mode,
    PermanentError,
    apply_if_newer,
    consumer,
)
from consumers.runtime.clients import aws_clients
from consumers.runtime.idempotency import ClaimState, IdempotencyStore

IDEMPOTENCY_TABLE = "fanout-hub-idempotency"
STATE_TABLE = "fanout-hub-projection"


class Recorder:
    """A consumer function that records what it was given and can be told to fail."""

    def __init__(self) -> None:
        self.seen: list[Envelope] = []
        self.fail_with: BaseException | None = None

    def __call__(self, event: Envelope) -> None:
        if self.fail_with is not None:
            raise self.fail_with
        self.seen.append(event)


class StateRecorder(Recorder):
    """A state consumer: one ``apply_if_newer`` per event, recording what it applied."""

    def __call__(self, event: Envelope) -> bool:  # type: ignore[override]
        if self.fail_with is not None:
            raise self.fail_with
        item = {"pk": {"S": event.subject}, "envelope_id": {"S": event.id}}
        applied = apply_if_newer(aws_clients().dynamodb, STATE_TABLE, event, item)
        if applied:
            self.seen.append(event)
        return applied


def a_handler(recorder: Recorder, *, mode: Mode = Mode.SIDE_EFFECT) -> ConsumerHandler:
    return consumer(mode=mode)(recorder)


@pytest.fixture
def recorder(consumer_env: dict[str, str]) -> Recorder:
    return Recorder()


class TestRedelivery:
    """A redelivered event has no second side effect."""

    def test_the_same_event_in_two_batches_runs_once(self, recorder):
        handler = a_handler(recorder)
        body = an_envelope()

        first = handler(an_sqs_event(an_sqs_record(body)), FakeContext())
        second = handler(an_sqs_event(an_sqs_record(body, receive_count=2)), FakeContext())

        assert failed_ids(first) == failed_ids(second) == []
        assert len(recorder.seen) == 1

    def test_the_same_event_twice_in_one_batch_runs_once(self, recorder):
        handler = a_handler(recorder)
        body = an_envelope()

        response = handler(an_sqs_event(an_sqs_record(body), an_sqs_record(body)), FakeContext())

        assert failed_ids(response) == []
        assert len(recorder.seen) == 1

    def test_a_side_effect_costs_one_claim_and_one_completion(self, recorder):
        handler = a_handler(recorder)
        requests = DynamoDBRequests()

        handler(an_sqs_event(an_sqs_record(an_envelope())), FakeContext())

        assert requests.operations == ["PutItem", "UpdateItem"]

    def test_a_naturally_idempotent_consumer_runs_every_delivery_with_no_table(
        self, recorder, monkeypatch
    ):
        monkeypatch.delenv("IDEMPOTENCY_TABLE")
        handler = a_handler(recorder, mode=Mode.NATURALLY_IDEMPOTENT)
        body = an_envelope()
        requests = DynamoDBRequests()

        handler(an_sqs_event(an_sqs_record(body), an_sqs_record(body)), FakeContext())

        assert len(recorder.seen) == 2
        assert requests.operations == []

    def test_a_side_effect_consumer_without_a_table_fails_at_cold_start(
        self, consumer_env, monkeypatch
    ):
        monkeypatch.delenv("IDEMPOTENCY_TABLE")

        with pytest.raises(Exception, match="IDEMPOTENCY_TABLE"):
            a_handler(Recorder()).build()

    def test_an_already_applied_return_counts_as_a_duplicate(self, consumer_env, capsys):
        handler = consumer(mode=Mode.NATURALLY_IDEMPOTENT)(lambda event: False)
        assert handler.runtime
        capsys.readouterr()

        handler(an_sqs_event(an_sqs_record(an_envelope())), FakeContext())

        [emf] = [
            json.loads(line) for line in capsys.readouterr().out.splitlines() if "_aws" in line
        ]
        assert (emf["Processed"], emf["DuplicatesSkipped"]) == (0, 1)


class TestConcurrentDuplicate:
    """Two deliveries of one event at once: only one runs, the other comes back later."""

    def test_a_live_lease_elsewhere_returns_the_message_to_the_queue(self, recorder, consumer_aws):
        handler = a_handler(recorder)
        body = an_envelope()
        envelope_id = json.loads(body)["id"]
        other = IdempotencyStore(IDEMPOTENCY_TABLE, "orders-consumer", consumer_aws.dynamodb)
        held = other.claim(envelope_id, lease_seconds=300)
        record = an_sqs_record(body)

        response = handler(an_sqs_event(record), FakeContext())

        assert failed_ids(response) == [record["messageId"]]
        assert recorder.seen == []
        other.complete(held)
        again = handler(an_sqs_event(an_sqs_record(body, receive_count=2)), FakeContext())
        assert failed_ids(again) == []
        assert recorder.seen == []  # the other delivery did the work

    def test_two_threads_delivering_the_same_event_run_it_once(self, consumer_env):
        started, release = threading.Event(), threading.Event()
        calls: list[str] = []

        def slow(event: Envelope) -> None:
            calls.append(event.id)
            started.set()
            assert release.wait(10), "the test never released the first delivery"

        handler = consumer()(slow)
        body = an_envelope()
        results: dict[str, Any] = {}
        first_record, second_record = an_sqs_record(body), an_sqs_record(body)
        worker = threading.Thread(
            target=lambda: results.update(first=handler(an_sqs_event(first_record), FakeContext()))
        )
        worker.start()
        try:
            assert started.wait(10)
            second = handler(an_sqs_event(second_record), FakeContext())
        finally:
            release.set()
            worker.join(10)

        assert failed_ids(second) == [second_record["messageId"]]
        assert failed_ids(results["first"]) == []
        assert calls == [json.loads(body)["id"]]

    def test_an_expired_lease_is_taken_over(self, recorder, consumer_aws):
        handler = a_handler(recorder)
        body = an_envelope()
        crashed = IdempotencyStore(
            IDEMPOTENCY_TABLE,
            "orders-consumer",
            consumer_aws.dynamodb,
            clock=lambda: time.time() - 3600,
        )
        assert crashed.claim(json.loads(body)["id"], lease_seconds=60).state is ClaimState.ACQUIRED

        response = handler(an_sqs_event(an_sqs_record(body, receive_count=2)), FakeContext())

        assert failed_ids(response) == []
        assert len(recorder.seen) == 1


class TestPoisonMessage:
    """A message that can never succeed goes to the DLQ at once, with its error."""

    def test_a_body_that_is_not_json_is_dead_lettered_whole(self, recorder, consumer_aws):
        handler = a_handler(recorder)
        record = an_sqs_record("this is not json {")

        response = handler(an_sqs_event(record), FakeContext())

        assert failed_ids(response) == []
        [letter] = consumer_aws.dead_letters()
        assert letter["Body"] == "this is not json {"
        attributes = letter["MessageAttributes"]
        assert attributes["fanout-error-type"]["StringValue"] == "InvalidMessageError"
        assert "not JSON" in attributes["fanout-error"]["StringValue"]
        origin = json.loads(attributes["fanout-origin"]["StringValue"])
        assert origin["consumer"] == "orders-consumer"
        assert origin["messageId"] == record["messageId"]
        assert origin["receiveCount"] == 1

    def test_an_envelope_failing_validation_is_dead_lettered(self, recorder, consumer_aws):
        handler = a_handler(recorder)
        envelope = json.loads(an_envelope())
        del envelope["subject"]

        handler(an_sqs_event(an_sqs_record(json.dumps(envelope))), FakeContext())

        [letter] = consumer_aws.dead_letters()
        assert "subject" in letter["MessageAttributes"]["fanout-error"]["StringValue"]
        assert recorder.seen == []

    def test_a_permanent_error_from_the_consumer_is_dead_lettered_and_replayable(
        self, recorder, consumer_aws
    ):
        handler = a_handler(recorder)
        recorder.fail_with = PermanentError("order 42 has no customer")
        body = an_envelope()
        attributes = {"type": {"DataType": "String", "StringValue": "order.updated"}}

        response = handler(
            an_sqs_event(an_sqs_record(body, attributes=attributes, receive_count=1)),
            FakeContext(),
        )

        assert failed_ids(response) == []
        [letter] = consumer_aws.dead_letters()
        assert letter["Body"] == body
        assert letter["MessageAttributes"]["type"]["StringValue"] == "order.updated"
        assert letter["MessageAttributes"]["fanout-error-type"]["StringValue"] == "PermanentError"
        origin = json.loads(letter["MessageAttributes"]["fanout-origin"]["StringValue"])
        assert origin["envelopeId"] == json.loads(body)["id"]
        # Replaying the dead letter after the fix runs the consumer: no idempotency record blocks it.
        recorder.fail_with = None
        replayed = handler(an_sqs_event(an_sqs_record(letter["Body"])), FakeContext())
        assert failed_ids(replayed) == []
        assert [e.id for e in recorder.seen] == [json.loads(body)["id"]]

    def test_when_the_dlq_send_fails_the_message_returns_to_the_queue(self, recorder, monkeypatch):
        monkeypatch.setenv(
            "DLQ_URL", "https://sqs.us-east-1.amazonaws.com/123456789012/no-such-queue"
        )
        handler = a_handler(recorder)
        record = an_sqs_record("not json")
        assert handler.runtime  # built (and logging configured) before capturing

        with capture_logs() as logs:
            response = handler(an_sqs_event(record), FakeContext())

        assert failed_ids(response) == [record["messageId"]]
        assert any(entry["event"] == "dead_letter_failed" for entry in logs)


class TestRetryableFailure:
    """Any other error returns exactly that message to the queue; the rest of the batch is kept."""

    def test_only_the_failing_message_is_reported(self, consumer_env):
        def fussy(event: Envelope) -> None:
            if event.data is not None and event.data.keys["pk"] == "ORDER#2":
                raise TimeoutError("downstream timed out")

        handler = consumer()(fussy)
        ok = an_sqs_record(an_envelope(keys={"pk": "ORDER#1", "sk": "META"}))
        bad = an_sqs_record(an_envelope(keys={"pk": "ORDER#2", "sk": "META"}))

        response = handler(an_sqs_event(ok, bad), FakeContext())

        assert failed_ids(response) == [bad["messageId"]]

    def test_a_retry_after_a_failure_runs_the_consumer_again(self, recorder, consumer_aws):
        handler = a_handler(recorder)
        recorder.fail_with = ConnectionError("reset by peer")
        body = an_envelope()

        first = handler(an_sqs_event(an_sqs_record(body)), FakeContext())
        recorder.fail_with = None
        second = handler(an_sqs_event(an_sqs_record(body, receive_count=2)), FakeContext())

        assert len(failed_ids(first)) == 1
        assert failed_ids(second) == []
        assert len(recorder.seen) == 1
        assert consumer_aws.dead_letters() == []

    def test_messages_are_not_started_when_the_invocation_is_about_to_time_out(self, recorder):
        handler = a_handler(recorder)
        records = [an_sqs_record(an_envelope()) for _ in range(3)]

        response = handler(an_sqs_event(*records), FakeContext(remaining_ms=500))

        assert failed_ids(response) == [r["messageId"] for r in records]
        assert recorder.seen == []


class TestStateMode:
    """A state consumer: one conditional write per message; an older change never follows a newer one."""

    @pytest.fixture
    def state(self, consumer_env: dict[str, str]) -> StateRecorder:
        return StateRecorder()

    def test_an_older_change_after_a_newer_one_is_skipped(self, state):
        handler = a_handler(state, mode=Mode.STATE)
        keys = {"pk": "ORDER#7", "sk": "META"}
        older = an_envelope(keys=keys, sequence="300000000000000000001")
        newer = an_envelope(keys=keys, sequence="300000000000000000002")

        handler(an_sqs_event(an_sqs_record(newer)), FakeContext())
        response = handler(an_sqs_event(an_sqs_record(older)), FakeContext())

        assert failed_ids(response) == []
        assert [e.sequence for e in state.seen] == [json.loads(newer)["sequence"]]

    def test_each_message_costs_one_write_and_no_read(self, state):
        handler = a_handler(state, mode=Mode.STATE)
        keys = {"pk": "ORDER#12", "sk": "META"}
        newer = an_envelope(keys=keys, sequence="300000000000000000002")
        older = an_envelope(keys=keys, sequence="300000000000000000001")
        requests = DynamoDBRequests()

        handler(
            an_sqs_event(an_sqs_record(newer), an_sqs_record(newer), an_sqs_record(older)),
            FakeContext(),
        )

        assert requests.operations == ["PutItem"] * 3
        assert len(state.seen) == 1

    def test_a_handler_that_returns_nothing_is_told_once(self, consumer_env):
        def forgetful(event: Envelope) -> None:
            item = {"pk": {"S": event.subject}}
            apply_if_newer(aws_clients().dynamodb, STATE_TABLE, event, item)  # result dropped

        handler = consumer(mode=Mode.STATE)(forgetful)
        assert handler.runtime  # built (and logging configured) before capturing

        with capture_logs() as logs:
            handler(an_sqs_event(*(an_sqs_record(an_envelope()) for _ in range(3))), FakeContext())

        assert [e["event"] for e in logs].count("state_handler_returned_none") == 1

    def test_a_state_consumer_needs_no_idempotency_table(self, state, monkeypatch):
        monkeypatch.delenv("IDEMPOTENCY_TABLE")
        handler = a_handler(state, mode=Mode.STATE)

        response = handler(an_sqs_event(an_sqs_record(an_envelope())), FakeContext())

        assert failed_ids(response) == []
        assert len(state.seen) == 1

    def test_changes_in_order_are_all_applied(self, state):
        handler = a_handler(state, mode=Mode.STATE)
        keys = {"pk": "ORDER#8", "sk": "META"}
        bodies = [an_envelope(keys=keys, sequence=f"30000000000000000000{n}") for n in (1, 2, 3)]

        handler(an_sqs_event(*(an_sqs_record(b) for b in bodies)), FakeContext())

        assert len(state.seen) == 3

    def test_other_items_are_not_affected(self, state):
        handler = a_handler(state, mode=Mode.STATE)
        newer = an_envelope(keys={"pk": "ORDER#9", "sk": "META"}, sequence="300000000000000000009")
        older_other = an_envelope(
            keys={"pk": "ORDER#10", "sk": "META"}, sequence="300000000000000000001"
        )

        handler(an_sqs_event(an_sqs_record(newer), an_sqs_record(older_other)), FakeContext())

        assert len(state.seen) == 2

    def test_two_threads_applying_the_same_change_write_it_once(self, state):
        handler = a_handler(state, mode=Mode.STATE)
        body = an_envelope(keys={"pk": "ORDER#13", "sk": "META"})
        barrier = threading.Barrier(2)
        results: list[Any] = []

        def deliver() -> None:
            barrier.wait(10)
            results.append(handler(an_sqs_event(an_sqs_record(body)), FakeContext()))

        threads = [threading.Thread(target=deliver) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)

        assert [failed_ids(r) for r in results] == [[], []]
        assert len(state.seen) == 1

    def test_a_permanent_error_goes_to_the_dlq_and_its_replay_applies(self, state, consumer_aws):
        handler = a_handler(state, mode=Mode.STATE)
        state.fail_with = PermanentError("bad order")
        body = an_envelope()

        handler(an_sqs_event(an_sqs_record(body)), FakeContext())
        state.fail_with = None
        [letter] = consumer_aws.dead_letters()
        handler(an_sqs_event(an_sqs_record(letter["Body"])), FakeContext())

        assert [e.id for e in state.seen] == [json.loads(body)["id"]]

    def test_an_item_dynamodb_can_never_hold_is_dead_lettered_at_once(
        self, consumer_env, consumer_aws
    ):
        def oversized(event: Envelope) -> bool:
            item = {"pk": {"S": event.subject}, "blob": {"S": "x" * 410_000}}
            return apply_if_newer(aws_clients().dynamodb, STATE_TABLE, event, item)

        handler = consumer(mode=Mode.STATE)(oversized)

        response = handler(an_sqs_event(an_sqs_record(an_envelope())), FakeContext())

        assert failed_ids(response) == []
        [letter] = consumer_aws.dead_letters()
        assert letter["MessageAttributes"]["fanout-error-type"]["StringValue"] == "PermanentError"


class TestStaleGuard:
    """skip_stale: a sink that cannot write conditionally still never applies an older change."""

    def test_an_older_change_after_a_newer_one_is_skipped(self, recorder):
        handler = consumer(skip_stale=True)(recorder)
        keys = {"pk": "ORDER#17", "sk": "META"}
        older = an_envelope(keys=keys, sequence="300000000000000000001")
        newer = an_envelope(keys=keys, sequence="300000000000000000002")

        handler(an_sqs_event(an_sqs_record(newer)), FakeContext())
        response = handler(an_sqs_event(an_sqs_record(older)), FakeContext())

        assert failed_ids(response) == []
        assert [e.sequence for e in recorder.seen] == [json.loads(newer)["sequence"]]

    def test_it_costs_a_read_and_an_update_beside_the_claim(self, recorder):
        handler = consumer(skip_stale=True)(recorder)
        requests = DynamoDBRequests()

        handler(an_sqs_event(an_sqs_record(an_envelope())), FakeContext())

        assert requests.operations == ["PutItem", "GetItem", "UpdateItem", "UpdateItem"]

    def test_without_claims_it_guards_a_naturally_idempotent_sink(self, recorder, monkeypatch):
        handler = consumer(mode=Mode.NATURALLY_IDEMPOTENT, skip_stale=True)(recorder)
        keys = {"pk": "ORDER#18", "sk": "META"}
        newer = an_envelope(keys=keys, sequence="300000000000000000002")
        older = an_envelope(keys=keys, sequence="300000000000000000001")

        handler(an_sqs_event(an_sqs_record(newer), an_sqs_record(older)), FakeContext())

        assert [e.sequence for e in recorder.seen] == [json.loads(newer)["sequence"]]


class TestFunctionHeldClaims:
    """SIDE_EFFECT with claim_events=False: the function claims its effects, the runtime nothing."""

    def test_the_runtime_makes_no_request(self, recorder):
        handler = consumer(mode=Mode.SIDE_EFFECT, claim_events=False)(recorder)
        body = an_envelope()
        requests = DynamoDBRequests()

        handler(an_sqs_event(an_sqs_record(body), an_sqs_record(body)), FakeContext())

        assert requests.operations == []
        assert len(recorder.seen) == 2  # the function's own claims decide, not the runtime


class TestObservability:
    """Logs and metrics say what happened to every message."""

    def test_a_batch_logs_a_summary_and_the_dead_letter_with_its_context(self, recorder):
        handler = a_handler(recorder)
        recorder.fail_with = PermanentError("bad order")
        body = an_envelope()
        assert handler.runtime  # built (and logging configured) before capturing

        with capture_logs() as logs:
            handler(an_sqs_event(an_sqs_record(body, receive_count=3)), FakeContext())

        [dead] = [e for e in logs if e["event"] == "event_dead_lettered"]
        envelope = json.loads(body)
        assert dead["envelope_id"] == envelope["id"]
        assert dead["type"] == envelope["type"]
        assert dead["sequence"] == envelope["sequence"]
        assert dead["receive_count"] == 3
        assert dead["consumer"] == "orders-consumer"
        assert dead["outcome"] == "dead_lettered"
        [summary] = [e for e in logs if e["event"] == "batch_consumed"]
        assert summary["dead_lettered"] == 1

    def test_metrics_are_written_in_embedded_metric_format(self, consumer_env, capsys):
        handler = a_handler(StateRecorder(), mode=Mode.STATE)
        keys = {"pk": "ORDER#11", "sk": "META"}
        newer = an_envelope(keys=keys, sequence="300000000000000000002")
        older = an_envelope(keys=keys, sequence="300000000000000000001")
        handler(an_sqs_event(an_sqs_record(newer)), FakeContext())
        capsys.readouterr()

        handler(
            an_sqs_event(an_sqs_record(newer), an_sqs_record(older), an_sqs_record("nope")),
            FakeContext(),
        )

        lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        [emf] = [line for line in lines if "_aws" in line]
        assert emf["Consumer"] == "orders-consumer"
        # In a state consumer a redelivery and a late change are both stale: neither writes.
        assert (emf["Processed"], emf["DuplicatesSkipped"], emf["StaleSkipped"]) == (0, 0, 2)
        assert emf["DeadLettered"] == 1
        directive = emf["_aws"]["CloudWatchMetrics"][0]
        assert directive["Dimensions"] == [["Consumer"]]
        assert {m["Name"] for m in directive["Metrics"]} >= {"Processed", "Failed", "StaleSkipped"}

    def test_latency_is_measured_from_the_event_time(self, recorder, capsys):
        handler = a_handler(recorder)
        created = time.time() - 2.0

        handler(an_sqs_event(an_sqs_record(an_envelope(created=created))), FakeContext())

        lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        [emf] = [line for line in lines if "_aws" in line]
        [latency] = emf["EventLatency"]
        assert 1500 <= latency <= 60_000


class TestFifoQueue:
    """On a FIFO queue the messages after a failure are returned unprocessed, keeping order."""

    def test_the_rest_of_the_batch_is_returned_after_a_failure(self, recorder):
        def fails_on_second(event: Envelope) -> None:
            if len(recorder.seen) == 1:
                raise TimeoutError("slow downstream")
            recorder.seen.append(event)

        handler = consumer()(fails_on_second)
        records = [an_sqs_record(an_envelope()) for _ in range(3)]
        for record in records:
            record["eventSourceARN"] += ".fifo"

        response = handler(an_sqs_event(*records), FakeContext())

        assert failed_ids(response) == [records[1]["messageId"], records[2]["messageId"]]
        assert len(recorder.seen) == 1
