"""``fanout consumers``: which consumers a filter policy lets an event reach, and who owns them.

Policies are evaluated with SNS's rules (AND across keys, OR across values, ``$or``).
https://docs.aws.amazon.com/sns/latest/dg/sns-subscription-filter-policies.html
https://docs.aws.amazon.com/sns/latest/dg/and-or-logic.html
https://docs.aws.amazon.com/sns/latest/dg/sns-message-filtering-scope.html
"""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest
from support.cli import run_fanout, run_main

from fanout.audience import (
    OWNER_TAG,
    UNKNOWN_OWNER,
    Admission,
    Consumer,
    Question,
    merged,
    template_consumers,
    topic_consumers,
    verdict,
)
from fanout.deploy.template import load_template
from fanout.ops.filtering import BODY_SCOPE, FilterPolicy

ROOT = Path(__file__).resolve().parents[3]


def _admits(policy: dict, question: Question, scope: str = "MessageAttributes") -> Admission:
    return verdict(FilterPolicy(policy, scope), question).admission


class TestQuestion:
    """A type fixes its entity and operation; an open operation is each one the router writes."""

    def test_a_type_fixes_entity_and_operation(self):
        assert Question(type="user.updated").events() == [
            {"entity": "user", "operation": "updated", "type": "user.updated"}
        ]

    def test_an_entity_alone_spans_every_operation(self):
        kinds = [e["type"] for e in Question(entity="user").events()]
        assert kinds == [
            "user.created",
            "user.updated",
            "user.deleted",
            "user.expired",
            "user.snapshot",
        ]


class TestAttributePolicies:
    """Policies on the router's message attributes (the kit's default scope)."""

    def test_no_policy_receives_everything(self):
        assert _admits({}, Question(entity="user")) is Admission.RECEIVES

    def test_an_entity_policy_receives_or_refuses(self):
        policy = {"entity": ["user", "account"]}
        assert _admits(policy, Question(entity="user")) is Admission.RECEIVES
        assert _admits(policy, Question(type="order.created")) is Admission.REFUSES

    def test_matching_is_case_sensitive(self):
        """https://docs.aws.amazon.com/sns/latest/dg/subscription-filter-policy-constraints.html"""
        assert _admits({"entity": ["User"]}, Question(entity="user")) is Admission.REFUSES

    def test_prefix_and_anything_but_use_sns_rules(self):
        assert _admits({"type": [{"prefix": "user."}]}, Question(entity="user")) is (
            Admission.RECEIVES
        )
        assert _admits({"entity": [{"anything-but": ["user"]}]}, Question(entity="user")) is (
            Admission.REFUSES
        )

    def test_some_operations_only(self):
        found = verdict(
            FilterPolicy({"operation": ["created", "deleted"]}), Question(entity="user")
        )
        assert found.admission is Admission.SOME
        assert found.reason.startswith("only user.created, user.deleted")

    def test_a_key_the_question_leaves_open_is_may_receive(self):
        found = verdict(
            FilterPolicy({"entity": ["user"], "changed": ["email"]}), Question(entity="user")
        )
        assert found.admission is Admission.MAY_RECEIVE
        assert "depends on changed" in found.reason

    def test_an_open_key_after_a_refused_one_is_still_refused(self):
        """AND across keys: a fixed key that refuses decides, whatever the open one holds."""
        policy = {"entity": ["order"], "table": ["orders"]}
        assert _admits(policy, Question(entity="user")) is Admission.REFUSES

    def test_or_alternatives(self):
        policy = {"$or": [{"entity": ["user"]}, {"table": ["archive"]}]}
        assert _admits(policy, Question(entity="user")) is Admission.RECEIVES
        assert _admits(policy, Question(entity="order")) is Admission.MAY_RECEIVE
        refused = {"$or": [{"entity": ["user"]}, {"operation": ["expired"]}]}
        assert _admits(refused, Question(type="order.created")) is Admission.REFUSES

    def test_a_policy_unknown_offline_is_may_receive(self):
        found = verdict(None, Question(entity="user"))
        assert found.admission is Admission.MAY_RECEIVE


class TestBodyPolicies:
    """Policies on the envelope (``FilterPolicyScope: MessageBody``)."""

    def test_top_level_envelope_fields(self):
        assert _admits({"entity": ["user"]}, Question(entity="user"), BODY_SCOPE) is (
            Admission.RECEIVES
        )
        assert _admits({"type": ["order.created"]}, Question(entity="user"), BODY_SCOPE) is (
            Admission.REFUSES
        )

    def test_a_policy_on_the_item_is_may_receive(self):
        policy = {"entity": ["user"], "data": {"new": {"country": ["FR"]}}}
        found = verdict(FilterPolicy(policy, BODY_SCOPE), Question(entity="user"))
        assert found.admission is Admission.MAY_RECEIVE
        assert "depends on data" in found.reason


class TestTemplateConsumers:
    """The hub's own consumers, read from template.yaml offline, each with its owner."""

    def test_every_in_repo_consumer_declares_an_owner(self):
        consumers = {c.name: c for c in template_consumers(ROOT / "template.yaml")}
        assert set(consumers) == {"audit-log", "projection", "webhook"}
        assert {c.owner for c in consumers.values()} == {"fanout-hub"}
        assert consumers["webhook"].condition == "HasWebhook"

    def test_an_entity_change_reaches_them_by_their_policies(self):
        consumers = {c.name: c for c in template_consumers(ROOT / "template.yaml")}
        question = Question(entity="user")
        assert verdict(consumers["audit-log"].policy, question).admission is Admission.RECEIVES
        assert verdict(consumers["projection"].policy, question).admission is Admission.RECEIVES
        assert verdict(consumers["webhook"].policy, question).admission is Admission.SOME

    def test_the_kit_tags_its_queue_with_the_owner(self):
        """The kit's Owner parameter becomes the queue tag `fanout consumers` reads."""
        kit = load_template(ROOT / "consumers" / "kit" / "template.yaml")
        assert kit["Parameters"]["Owner"]["Default"] == ""
        tags = kit["Resources"]["Queue"]["Properties"]["Tags"]
        assert tags == {
            "Fn::If": [
                "HasOwner",
                [{"Key": OWNER_TAG, "Value": {"Ref": "Owner"}}],
                {"Ref": "AWS::NoValue"},
            ]
        }


class TestTopicConsumers:
    """Live subscriptions: any team's queue on the topic, its policy and its owner tag."""

    def test_subscriptions_policies_and_owner_tags(self, aws):
        sns, sqs = boto3.client("sns"), boto3.client("sqs")
        topic = sns.create_topic(Name="hub-topic")["TopicArn"]
        tagged = sqs.create_queue(QueueName="billing", tags={OWNER_TAG: "billing-team"})
        untagged = sqs.create_queue(QueueName="search")
        for url, policy, scope in (
            (tagged["QueueUrl"], {"entity": ["order"]}, "MessageAttributes"),
            (untagged["QueueUrl"], {"type": [{"prefix": "user."}]}, "MessageBody"),
        ):
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
                "QueueArn"
            ]
            sns.subscribe(
                TopicArn=topic,
                Protocol="sqs",
                Endpoint=arn,
                Attributes={"FilterPolicy": json.dumps(policy), "FilterPolicyScope": scope},
            )
        found = {c.name: c for c in topic_consumers(sns, sqs, topic)}
        assert {n: c.owner for n, c in found.items()} == {
            "billing": "billing-team",
            "search": UNKNOWN_OWNER,
        }
        question = Question(entity="user")
        assert verdict(found["billing"].policy, question).admission is Admission.REFUSES
        assert verdict(found["search"].policy, question).admission is Admission.RECEIVES


def _subscribe_queue(sns, sqs, topic: str, name: str, policy: dict, **tags: str) -> None:
    url = sqs.create_queue(QueueName=name, tags=tags)["QueueUrl"] if tags else None
    url = url or sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(
        TopicArn=topic,
        Protocol="sqs",
        Endpoint=arn,
        Attributes={"FilterPolicy": json.dumps(policy)},
    )


class TestMerged:
    """Live subscriptions win; the template fills in what the topic cannot say."""

    def test_an_unreadable_owner_tag_keeps_the_declared_owner(self):
        declared = Consumer("billing", "billing-team", FilterPolicy(), "template.yaml")
        pending = Consumer("search", "search-team", FilterPolicy(), "template.yaml")
        live = Consumer("billing", UNKNOWN_OWNER, FilterPolicy({"entity": ["user"]}), "topic")
        found = merged([declared, pending], [live])
        assert [(c.name, c.owner, c.source) for c in found] == [
            ("billing", "billing-team", "topic"),
            ("search", "search-team", "template.yaml"),
        ]
        assert found[0].policy == live.policy


class TestCommand:
    """``fanout consumers`` offline, on the repository's template."""

    @pytest.fixture(autouse=True)
    def _no_local_hub(self, monkeypatch):
        monkeypatch.setattr("fanout.local.hub.load_state", lambda: None)

    def test_json_lists_the_consumers_and_owners(self):
        ran = run_fanout(
            [
                "consumers",
                "--type",
                "order.updated",
                "--template",
                str(ROOT / "template.yaml"),
                "--json",
            ]
        )
        assert ran.code == 0
        document = ran.document()
        assert document["question"] == "type=order.updated"
        assert [(c["consumer"], c["owner"], c["admits"]) for c in document["consumers"]] == [
            ("audit-log", "fanout-hub", "receives"),
            ("projection", "fanout-hub", "receives"),
        ]

    def test_a_named_stack_adds_the_topics_subscriptions(self, aws):
        """Another team's queue, subscribed out of band, is listed with its owner tag."""
        cloudformation = boto3.client("cloudformation")
        cloudformation.create_stack(
            StackName="hub",
            TemplateBody=json.dumps(
                {
                    "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
                    "Outputs": {"TopicArn": {"Value": {"Ref": "Topic"}}},
                }
            ),
        )
        topic = cloudformation.describe_stacks(StackName="hub")["Stacks"][0]["Outputs"][0][
            "OutputValue"
        ]
        sns, sqs = boto3.client("sns"), boto3.client("sqs")
        _subscribe_queue(sns, sqs, topic, "crm-sync", {"entity": ["user"]}, **{OWNER_TAG: "crm"})
        _subscribe_queue(sns, sqs, topic, "stock", {"entity": ["product"]})
        ran = run_fanout(
            [
                "consumers",
                "--entity",
                "user",
                "--stack-name",
                "hub",
                "--json",
                "--template",
                str(ROOT / "template.yaml"),
            ]
        )
        assert ran.code == 0, ran.err
        listed = {c["consumer"]: c for c in ran.document()["consumers"]}
        assert listed["crm-sync"]["owner"] == "crm"
        assert listed["crm-sync"]["source"] == "topic"
        assert "stock" not in listed
        assert listed["audit-log"]["source"] == "template.yaml"  # not deployed in this stack

    def test_a_named_stack_that_cannot_be_read_is_a_usage_error(self, aws):
        ran = run_main(["consumers", "--stack-name", "no-such-hub"])
        assert ran.code == 2
        assert "the hub's subscriptions could not be read" in ran.err

    def test_a_type_of_another_entity_is_a_usage_error(self):
        ran = run_main(["consumers", "--type", "order.created", "--entity", "user"])
        assert ran.code == 2
        assert ran.err.strip() == "fanout: --type order.created has entity 'order', not 'user'"

    def test_a_missing_template_is_a_usage_error(self, tmp_path):
        ran = run_main(["consumers", "--template", str(tmp_path / "none.yaml")])
        assert ran.code == 2
