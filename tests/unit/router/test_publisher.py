"""Retry policy and ordering rules of the publisher, with a scripted SNS client."""

from __future__ import annotations

from support.builders import a_stream_record

from router.deadline import Deadline
from router.normalise import EntityRules, to_outbound
from router.publisher import Backoff, SnsPublisher


class ScriptedSns:
    """Answers PublishBatch from a script: each step fails the entries whose index it names."""

    def __init__(self, failing_steps: list[set[int]], then: set[int] | None = None) -> None:
        self.steps = failing_steps
        self.then = then or set()  # what fails once the script has run out
        self.calls: list[list[str]] = []

    def publish_batch(self, TopicArn, PublishBatchRequestEntries):  # noqa: N803 - boto3's names
        step = self.steps[len(self.calls)] if len(self.calls) < len(self.steps) else self.then
        self.calls.append([e["Id"] for e in PublishBatchRequestEntries])
        ok, failed = [], []
        for entry in PublishBatchRequestEntries:
            target = failed if int(entry["Id"]) in step else ok
            target.append({"Id": entry["Id"], "Code": "InternalError", "SenderFault": False})
        return {"Successful": ok, "Failed": failed}


def messages(n):
    return [
        to_outbound(a_stream_record(keys={"pk": f"A#{i}", "sk": "s"}), EntityRules())
        for i in range(n)
    ]


def test_full_jitter_stays_within_the_exponential_cap():
    backoff = Backoff(base=0.1, cap=1.0, rand=lambda low, high: high)
    assert [backoff.delay(a) for a in range(6)] == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
    assert Backoff(rand=lambda low, high: low).delay(3) == 0.0


def test_only_failed_entries_are_sent_again():
    sns = ScriptedSns([{1, 3}, {3}])
    slept: list[float] = []
    publisher = SnsPublisher(
        sns, "arn:aws:sns:us-east-1:123456789012:t", 262_144, sleep=slept.append
    )
    outcome = publisher.publish_all(messages(5), Deadline.after(30))
    assert sns.calls == [["0", "1", "2", "3", "4"], ["1", "3"], ["3"]]
    assert len(outcome.published) == 5
    assert outcome.failed == []
    assert len(slept) == 2


def test_no_retry_starts_once_the_deadline_is_near():
    sns = ScriptedSns([{0}] * 100)
    publisher = SnsPublisher(
        sns, "arn:aws:sns:us-east-1:123456789012:t", 262_144, sleep=lambda _s: None
    )
    outcome = publisher.publish_all(messages(1), Deadline.after(0))
    assert sns.calls == []
    assert len(outcome.failed) == 1


def test_fifo_publishes_in_order_and_stops_at_the_first_failure():
    sns = ScriptedSns([set()], then={2})  # the second batch's third entry always fails
    publisher = SnsPublisher(
        sns,
        "arn:aws:sns:us-east-1:123456789012:t.fifo",
        262_144,
        concurrency=8,
        backoff=Backoff(rand=lambda low, high: 0.0),
        sleep=lambda _s: None,
    )
    msgs = messages(25)
    outcome = publisher.publish_all(msgs, Deadline.after(0.05))
    assert [m.envelope_id for m in outcome.published] == [
        m.envelope_id for m in msgs[:12] + msgs[13:20]
    ]
    # Nothing after the failed batch went out ahead of the failed message.
    assert [m.envelope_id for m, _ in outcome.failed] == [
        m.envelope_id for m in [msgs[12], *msgs[20:]]
    ]
    assert all(len(ids) <= 10 for ids in sns.calls)


class OrderRecordingSns:
    """Fails the first attempt of the first entry it sees; records the bodies SNS accepted, in order."""

    def __init__(self) -> None:
        self.accepted: list[str] = []
        self.failed_once = False

    def publish_batch(self, TopicArn, PublishBatchRequestEntries):  # noqa: N803 - boto3's names
        ok, failed = [], []
        for entry in PublishBatchRequestEntries:
            if not self.failed_once:
                self.failed_once = True
                failed.append({"Id": entry["Id"], "Code": "InternalError", "SenderFault": False})
            else:
                self.accepted.append(entry["Message"])
                ok.append({"Id": entry["Id"]})
        return {"Successful": ok, "Failed": failed}


def test_fifo_a_failed_update_is_not_overtaken_by_a_later_update_of_its_item():
    # GIVEN two updates of one item and one of another, on a FIFO topic whose first entry fails once
    item = {"pk": "ORDER#1", "sk": "s"}
    msgs = [
        to_outbound(a_stream_record("MODIFY", keys=item), EntityRules()),
        to_outbound(a_stream_record("MODIFY", keys={"pk": "ORDER#2", "sk": "s"}), EntityRules()),
        to_outbound(a_stream_record("MODIFY", keys=item), EntityRules()),
    ]
    sns = OrderRecordingSns()
    publisher = SnsPublisher(
        sns, "arn:aws:sns:us-east-1:123456789012:t.fifo", 262_144, sleep=lambda _s: None
    )
    # WHEN they are published
    outcome = publisher.publish_all(msgs, Deadline.after(30))
    # THEN the item's first update, retried, still went out before its second
    assert outcome.failed == []
    first, second = msgs[0].body, msgs[2].body
    assert sns.accepted.index(first) < sns.accepted.index(second)
