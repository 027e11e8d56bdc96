"""One matcher for SNS filter policies: backfill and the local hub's no-loss ledger agree."""

from __future__ import annotations

import pytest
from support.builders import a_stream_record

from fanout.local.ledger import SourceRecord, Subscriber
from fanout.ops.filtering import FilterPolicy
from router.normalise import EntityRules, to_outbound

POLICIES = [
    ({}, "MessageAttributes"),
    ({"type": [{"prefix": "order."}]}, "MessageAttributes"),
    ({"operation": [{"anything-but": ["updated"]}]}, "MessageAttributes"),
    ({"changed": ["status"]}, "MessageAttributes"),
    ({"data": {"new": {"status": ["paid"]}}}, "MessageBody"),
]


@pytest.mark.parametrize(("policy", "scope"), POLICIES, ids=str)
@pytest.mark.parametrize("op", ["INSERT", "MODIFY", "REMOVE"])
def test_the_ledger_and_backfill_match_alike(policy, scope, op):
    message = to_outbound(
        a_stream_record(
            op,
            new={"pk": "ORDER#1", "sk": "META", "status": "paid"},
            old={"pk": "ORDER#1", "sk": "META", "status": "placed"},
        ),
        EntityRules(),
    )
    record = SourceRecord(
        sequence="1",
        label="r",
        envelope_id=message.envelope_id,
        event_type=message.type,
        attributes=message.attributes,
        body=message.body,
    )
    subscriber = Subscriber("f", "q", None, filter_policy=policy, filter_policy_scope=scope)

    assert subscriber.matches(record) == FilterPolicy(policy, scope).delivers(message)


def test_an_update_of_the_named_field_matches_changed():
    message = to_outbound(
        a_stream_record(
            "MODIFY",
            new={"pk": "ORDER#1", "sk": "META", "status": "paid"},
            old={"pk": "ORDER#1", "sk": "META", "status": "placed"},
        ),
        EntityRules(),
    )

    assert FilterPolicy({"changed": ["status"]}).delivers(message)
    assert not FilterPolicy({"changed": ["total"]}).delivers(message)


def test_empty_text_is_no_policy_and_the_scope_defaults_to_attributes():
    assert FilterPolicy.of_text("  ", "") == FilterPolicy({}, "MessageAttributes")
    assert FilterPolicy.of_text('{"entity": ["order"]}', "MessageBody").scope == "MessageBody"
