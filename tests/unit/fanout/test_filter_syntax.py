"""One ``--filter`` syntax: ``KEY=VALUE[,VALUE]`` over the attributes the router publishes.

The policies are matched with SNS's rules as moto implements them
(``fanout.ops.filtering``, held to SNS by ``tests/integration/test_backfill_filter_policy.py``);
``changed`` is a ``String.Array`` attribute, which a plain string value matches when
any element equals it: https://docs.aws.amazon.com/sns/latest/dg/example-filter-policies.html
"""

from __future__ import annotations

import pytest
from support.builders import a_stream_record
from support.cli import run_main

from fanout.filter_syntax import (
    FILTER_KEYS,
    FilterSyntaxError,
    parse_filter_argument,
    parse_filters,
)
from fanout.ops.filtering import FilterPolicy
from router.normalise import EntityRules, to_outbound


def published(op: str = "MODIFY", **record):
    """What the router publishes for one stream record."""
    return to_outbound(a_stream_record(op, **record), EntityRules())


class TestKeys:
    """The keys are exactly the message attributes the router publishes."""

    def test_the_keys_are_the_attributes_of_an_update(self):
        assert set(published("MODIFY").attributes) == set(FILTER_KEYS)

    def test_an_unknown_key_is_answered_with_the_valid_ones_in_one_line(self):
        with pytest.raises(FilterSyntaxError) as caught:
            parse_filters(["colour=red"])

        message = str(caught.value)
        assert "\n" not in message
        assert "'colour'" in message
        assert "type, entity, operation, table, schemaversion, changed" in message


class TestPolicies:
    """Each filter becomes the SNS policy condition it reads as."""

    def test_values_are_alternatives_and_keys_all_apply(self):
        assert parse_filters(["type=order.created,order.deleted", "table=Orders"]) == {
            "type": ["order.created", "order.deleted"],
            "table": ["Orders"],
        }

    def test_prefix_colon_and_a_trailing_star_are_prefix_matches(self):
        assert parse_filters(["type=prefix:order."]) == {"type": [{"prefix": "order."}]}
        assert parse_filters(["type=order.*"]) == {"type": [{"prefix": "order."}]}

    @pytest.mark.parametrize(
        "text", ["type", "type=", "=order", "type=a,,b", "type=or*der", "type=prefix:", "type=*"]
    )
    def test_a_malformed_filter_is_refused(self, text):
        with pytest.raises(FilterSyntaxError):
            parse_filters([text])

    def test_more_keys_than_sns_allows_are_refused(self):
        # https://docs.aws.amazon.com/sns/latest/dg/subscription-filter-policy-constraints.html
        six = [f"{key}=x" for key in FILTER_KEYS]

        with pytest.raises(FilterSyntaxError, match="at most 5 keys"):
            parse_filters(six)


class TestChanged:
    """``changed=status`` admits the updates that changed ``status``, and nothing else."""

    def test_an_update_of_status_is_admitted(self):
        policy = FilterPolicy(parse_filters(["changed=status"]))
        update = published(
            "MODIFY",
            new={"pk": "ORDER#1", "status": "PAID"},
            old={"pk": "ORDER#1", "status": "NEW"},
        )

        assert update.attributes["changed"]["DataType"] == "String.Array"
        assert policy.delivers(update)

    def test_an_update_of_something_else_and_an_insert_are_not(self):
        policy = FilterPolicy(parse_filters(["changed=status"]))
        other = published(
            "MODIFY",
            new={"pk": "ORDER#1", "status": "NEW", "total": 2},
            old={"pk": "ORDER#1", "status": "NEW", "total": 1},
        )

        assert not policy.delivers(other)
        assert not policy.delivers(published("INSERT"))

    def test_a_type_prefix_admits_its_entity_only(self):
        policy = FilterPolicy(parse_filters(["type=prefix:order."]))

        assert policy.delivers(published("INSERT", keys={"pk": "ORDER#1", "sk": "A"}))
        assert not policy.delivers(published("INSERT", keys={"pk": "CUSTOMER#1", "sk": "A"}))


class TestRawJson:
    """``tail`` also takes a whole policy as JSON, when it is the only filter."""

    def test_a_json_object_is_the_policy(self):
        assert parse_filter_argument(['{"entity": ["order"]}']) == {"entity": ["order"]}

    @pytest.mark.parametrize(
        ("filters", "expected"),
        [
            (['{"entity": '], "not valid JSON"),
            (["[1]"], "is not KEY=VALUE"),
            (['{"entity": ["order"]}', "table=Orders"], "give it alone"),
        ],
    )
    def test_a_bad_one_is_refused(self, filters, expected):
        with pytest.raises(FilterSyntaxError, match=expected):
            parse_filter_argument(filters)


class TestTailFilter:
    """``fanout tail --filter`` refuses a bad filter in one line, exit 2, before any AWS call."""

    def test_a_malformed_json_filter_is_one_line_and_exit_2(self):
        ran = run_main(["tail", "--filter", '{"entity": '])

        assert ran.code == 2
        assert ran.err.count("\n") == 1
        assert ran.first_error_line.startswith("fanout: the JSON filter policy is not valid JSON")

    def test_an_unknown_key_is_one_line_and_exit_2(self):
        ran = run_main(["tail", "--filter", "colour=red"])

        assert ran.code == 2
        assert ran.first_error_line.startswith("fanout: unknown filter key 'colour'")
