"""The local IAM policy evaluator against AWS's documented evaluation logic.

https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic_policy-eval-basics.html
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from fanout.local.access import (
    API_PARAMS,
    STREAM_OF_CALL,
    Authorizer,
    Target,
    delivery_context,
    targets_of,
)
from fanout.local.policy import (
    SECURE_TRANSPORT,
    Decision,
    Principal,
    Request,
    UnsupportedPolicyError,
    evaluate,
    evaluate_cross_account,
)

ACCOUNT = "123456789012"
ROOT = f"arn:aws:iam::{ACCOUNT}:root"
ROUTER = Principal(f"arn:aws:iam::{ACCOUNT}:role/hub-RouterRole-1")
OPERATOR = Principal(f"arn:aws:iam::{ACCOUNT}:role/fanout-operator")
TOPIC = f"arn:aws:sns:us-east-1:{ACCOUNT}:hub-Topic-1"
QUEUE = f"arn:aws:sqs:us-east-1:{ACCOUNT}:hub-Queue-1"


def policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(action: Any, resource: Any = "*", **more: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **more}


def deny(action: Any, resource: Any = "*", **more: Any) -> dict[str, Any]:
    return {"Effect": "Deny", "Action": action, "Resource": resource, **more}


def publish(principal: Principal, **context: Any) -> Request:
    return Request(principal, "sns:Publish", TOPIC, {**SECURE_TRANSPORT, **context})


# The template's topic policy, as CloudFormation resolves it.
TOPIC_POLICY = policy(
    deny(
        "sns:Publish",
        TOPIC,
        Sid="OnlyTheRouterPublishes",
        Principal="*",
        Condition={"ArnNotEquals": {"aws:PrincipalArn": ROUTER.arn}},
    ),
    allow("sns:Publish", TOPIC, Sid="RouterPublishes", Principal={"AWS": ROUTER.arn}),
    allow(
        ["sns:Subscribe", "sns:GetTopicAttributes"],
        TOPIC,
        Sid="AccountSubscribes",
        Principal={"AWS": ROOT},
    ),
    deny(
        "sns:*",
        TOPIC,
        Sid="DenyInsecureTransport",
        Principal="*",
        Condition={"Bool": {"aws:SecureTransport": "false"}},
    ),
)


class TestEvaluationOrder:
    """Explicit deny, then an allow from either policy type, else implicit deny."""

    def test_nothing_allows_is_an_implicit_deny(self):
        result = evaluate(publish(OPERATOR), [], None)
        assert result.decision is Decision.IMPLICIT_DENY

    def test_an_identity_allow_alone_is_enough_in_the_same_account(self):
        result = evaluate(publish(OPERATOR), [policy(allow("sns:Publish", TOPIC))], None)
        assert result.decision is Decision.ALLOW

    def test_a_resource_allow_naming_the_role_alone_is_enough(self):
        resource = policy(allow("sns:Publish", TOPIC, Principal={"AWS": ROUTER.arn}))
        assert evaluate(publish(ROUTER), [], resource).decision is Decision.ALLOW

    def test_an_explicit_deny_beats_any_allow(self):
        identity = policy(allow("sns:*"), deny("sns:Publish", TOPIC))
        result = evaluate(publish(OPERATOR), [identity], None)
        assert result.decision is Decision.EXPLICIT_DENY
        assert "identity policy" in result.reason

    def test_a_resource_deny_beats_an_identity_allow(self):
        resource = policy(deny("sns:Publish", TOPIC, Principal="*"))
        result = evaluate(publish(OPERATOR), [policy(allow("*"))], resource)
        assert result.decision is Decision.EXPLICIT_DENY

    def test_the_account_root_is_allowed_unless_a_resource_policy_denies_it(self):
        root = Principal(ROOT)
        assert evaluate(publish(root), [], None).decision is Decision.ALLOW
        assert evaluate(publish(root), [], TOPIC_POLICY).decision is Decision.EXPLICIT_DENY


class TestTheTopicPolicy:
    """Only the router role publishes; the rest of the account may subscribe."""

    def test_the_operator_cannot_publish_even_with_an_identity_allow(self):
        result = evaluate(publish(OPERATOR), [policy(allow("sns:Publish", TOPIC))], TOPIC_POLICY)
        assert result.decision is Decision.EXPLICIT_DENY
        assert "OnlyTheRouterPublishes" in result.reason

    def test_the_router_can(self):
        assert evaluate(publish(ROUTER), [], TOPIC_POLICY).decision is Decision.ALLOW

    def test_plain_http_is_denied_to_the_router_too(self):
        request = publish(ROUTER, **{"aws:SecureTransport": False})
        assert evaluate(request, [], TOPIC_POLICY).decision is Decision.EXPLICIT_DENY

    def test_an_account_principal_delegates_to_identity_policies(self):
        # The AccountSubscribes Allow names the account: it grants a role nothing by itself.
        subscribe = Request(OPERATOR, "sns:Subscribe", TOPIC, SECURE_TRANSPORT)
        assert evaluate(subscribe, [], TOPIC_POLICY).decision is Decision.IMPLICIT_DENY
        identity = policy(allow("sns:Subscribe", TOPIC))
        assert evaluate(subscribe, [identity], TOPIC_POLICY).decision is Decision.ALLOW

    def test_an_account_principal_in_a_deny_covers_its_roles(self):
        resource = policy(deny("sns:Publish", TOPIC, Principal={"AWS": ACCOUNT}))
        result = evaluate(publish(ROUTER), [policy(allow("*"))], resource)
        assert result.decision is Decision.EXPLICIT_DENY


class TestMatching:
    """Action, NotAction, Resource, NotResource and Principal elements."""

    def test_actions_are_case_insensitive_with_wildcards(self):
        identity = policy(allow("SNS:pub*", TOPIC))
        assert evaluate(publish(OPERATOR), [identity], None).decision is Decision.ALLOW

    def test_resources_are_case_sensitive(self):
        identity = policy(allow("sns:Publish", TOPIC.upper()))
        assert evaluate(publish(OPERATOR), [identity], None).decision is Decision.IMPLICIT_DENY

    def test_question_mark_matches_one_character(self):
        identity = policy(allow("sns:Publish", TOPIC[:-1] + "?"))
        assert evaluate(publish(OPERATOR), [identity], None).decision is Decision.ALLOW
        identity = policy(allow("sns:Publish", TOPIC[:-2] + "?"))
        assert evaluate(publish(OPERATOR), [identity], None).decision is Decision.IMPLICIT_DENY

    def test_not_action_allows_everything_else(self):
        identity = policy({"Effect": "Allow", "NotAction": "sns:Publish", "Resource": "*"})
        subscribe = Request(OPERATOR, "sns:Subscribe", TOPIC)
        assert evaluate(subscribe, [identity], None).decision is Decision.ALLOW
        assert evaluate(publish(OPERATOR), [identity], None).decision is Decision.IMPLICIT_DENY

    def test_not_resource_excludes_the_named_resources(self):
        identity = policy({"Effect": "Allow", "Action": "sns:*", "NotResource": TOPIC})
        assert evaluate(publish(OPERATOR), [identity], None).decision is Decision.IMPLICIT_DENY
        other = Request(OPERATOR, "sns:Publish", TOPIC + "-other")
        assert evaluate(other, [identity], None).decision is Decision.ALLOW

    def test_a_resource_statement_for_another_principal_does_not_apply(self):
        resource = policy(allow("sns:Publish", TOPIC, Principal={"AWS": ROUTER.arn}))
        assert evaluate(publish(OPERATOR), [], resource).decision is Decision.IMPLICIT_DENY

    def test_principal_star_and_service_principals(self):
        sns = Principal(service="sns.amazonaws.com")
        send = Request(sns, "sqs:SendMessage", QUEUE)
        by_service = policy(
            allow("sqs:SendMessage", QUEUE, Principal={"Service": "sns.amazonaws.com"})
        )
        assert evaluate(send, [], by_service).decision is Decision.ALLOW
        by_star = policy(allow("sqs:SendMessage", QUEUE, Principal="*"))
        assert evaluate(send, [], by_star).decision is Decision.ALLOW
        by_role = policy(allow("sqs:SendMessage", QUEUE, Principal={"AWS": ROUTER.arn}))
        assert evaluate(send, [], by_role).decision is Decision.IMPLICIT_DENY


class TestConditions:
    """The operators the templates use; every operator and key must hold, any value may."""

    def queue_policy(self, operator: str, value: Any) -> dict[str, Any]:
        return policy(
            allow(
                "sqs:SendMessage",
                QUEUE,
                Principal={"Service": "sns.amazonaws.com"},
                Condition={operator: {"aws:SourceArn": value}},
            )
        )

    def send_from(self, source: str | None) -> Request:
        context = {"aws:SourceArn": source} if source else {}
        return Request(Principal(service="sns.amazonaws.com"), "sqs:SendMessage", QUEUE, context)

    @pytest.mark.parametrize(
        ("operator", "value", "source", "allowed"),
        [
            ("ArnEquals", TOPIC, TOPIC, True),
            ("ArnEquals", TOPIC, TOPIC + "-other", False),
            ("ArnEquals", [TOPIC + "-other", TOPIC], TOPIC, True),
            ("ArnLike", f"arn:aws:sns:*:{ACCOUNT}:hub-*", TOPIC, True),
            ("ArnLike", "arn:aws:sns:*:999999999999:*", TOPIC, False),
            ("ArnNotEquals", TOPIC, TOPIC + "-other", True),
            ("ArnNotEquals", TOPIC, TOPIC, False),
            ("StringEquals", TOPIC, TOPIC, True),
            ("StringEquals", TOPIC.upper(), TOPIC, False),
            ("StringLike", "arn:aws:sns:*", TOPIC, True),
            # A key absent from the request: a positive operator fails, a negated one holds.
            ("ArnEquals", TOPIC, None, False),
            ("ArnNotEquals", TOPIC, None, True),
        ],
    )
    def test_operator(self, operator: str, value: Any, source: str | None, allowed: bool):
        result = evaluate(self.send_from(source), [], self.queue_policy(operator, value))
        assert result.decision.allowed is allowed

    def test_bool_secure_transport(self):
        resource = policy(
            deny(
                "sqs:*", QUEUE, Principal="*", Condition={"Bool": {"aws:SecureTransport": "false"}}
            )
        )
        identity = [policy(allow("sqs:*"))]
        secure = Request(ROUTER, "sqs:SendMessage", QUEUE, SECURE_TRANSPORT)
        plain = Request(ROUTER, "sqs:SendMessage", QUEUE, {"aws:SecureTransport": False})
        assert evaluate(secure, identity, resource).decision is Decision.ALLOW
        assert evaluate(plain, identity, resource).decision is Decision.EXPLICIT_DENY

    def test_every_key_of_a_condition_must_hold(self):
        condition = {
            "ArnEquals": {"aws:SourceArn": TOPIC},
            "StringEquals": {"aws:SourceAccount": ACCOUNT},
        }
        resource = policy(allow("sqs:SendMessage", QUEUE, Principal="*", Condition=condition))
        both = Request(
            Principal(service="sns.amazonaws.com"),
            "sqs:SendMessage",
            QUEUE,
            {"aws:SourceArn": TOPIC, "aws:SourceAccount": ACCOUNT},
        )
        assert evaluate(both, [], resource).decision is Decision.ALLOW
        assert evaluate(self.send_from(TOPIC), [], resource).decision is Decision.IMPLICIT_DENY

    def test_principal_arn_is_the_requesters_role(self):
        identity = policy(
            allow("sns:Publish", TOPIC, Condition={"ArnEquals": {"aws:PrincipalArn": ROUTER.arn}})
        )
        assert evaluate(publish(ROUTER), [identity], None).decision is Decision.ALLOW
        assert evaluate(publish(OPERATOR), [identity], None).decision is Decision.IMPLICIT_DENY

    def test_an_operator_it_does_not_know_is_refused_not_guessed(self):
        identity = policy(
            allow("sns:Publish", TOPIC, Condition={"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}})
        )
        with pytest.raises(UnsupportedPolicyError, match="IpAddress"):
            evaluate(publish(OPERATOR), [identity], None)


class TestRequestContext:
    """The keys a request carries: the principal's ARN and account, a service's source.

    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html
    """

    def test_a_resource_policy_on_the_principal_account_admits_the_accounts_roles(self):
        # GIVEN a queue policy allowing any principal of the account (the AWS pattern
        # "Principal: *" + aws:PrincipalAccount), and no identity policy
        resource = policy(
            allow(
                "sqs:SendMessage",
                QUEUE,
                Principal="*",
                Condition={"StringEquals": {"aws:PrincipalAccount": ACCOUNT}},
            )
        )
        stranger = Principal("arn:aws:iam::999999999999:role/elsewhere")

        # THEN a role of the account is allowed, one of another account is not
        mine = Request(OPERATOR, "sqs:SendMessage", QUEUE, SECURE_TRANSPORT)
        theirs = Request(stranger, "sqs:SendMessage", QUEUE, SECURE_TRANSPORT)
        assert evaluate(mine, [], resource).decision is Decision.ALLOW
        assert evaluate(theirs, [], resource).decision is Decision.IMPLICIT_DENY

    def test_a_queue_policy_on_source_account_admits_the_topics_delivery(self):
        # GIVEN a subscribed queue's policy conditioned on the topic's account, as AWS
        # recommends against the confused deputy
        # https://docs.aws.amazon.com/IAM/latest/UserGuide/confused-deputy.html
        resource = policy(
            allow(
                "sqs:SendMessage",
                QUEUE,
                Principal={"Service": "sns.amazonaws.com"},
                Condition={"StringEquals": {"aws:SourceAccount": ACCOUNT}},
            )
        )
        # WHEN SNS delivers from the topic
        delivery = Request(
            Principal(service="sns.amazonaws.com"),
            "sqs:SendMessage",
            QUEUE,
            delivery_context(TOPIC),
        )
        # THEN the delivery is allowed; from a topic of another account it is not
        other = TOPIC.replace(ACCOUNT, "999999999999")
        foreign = Request(
            Principal(service="sns.amazonaws.com"),
            "sqs:SendMessage",
            QUEUE,
            delivery_context(other),
        )
        assert evaluate(delivery, [], resource).decision is Decision.ALLOW
        assert evaluate(foreign, [], resource).decision is Decision.IMPLICIT_DENY

    def test_a_service_principal_has_no_principal_account(self):
        # A missing key fails a positive condition and satisfies a negated one.
        delivery = Request(Principal(service="sns.amazonaws.com"), "sqs:SendMessage", QUEUE, {})
        assert delivery.key("aws:PrincipalAccount") is None
        assert Request(ROUTER, "sns:Publish", TOPIC).key("aws:principalaccount") == ACCOUNT


class TestTargets:
    """Which action and resource each checked call needs."""

    def test_an_sqs_queue_url_becomes_its_arn(self):
        url = f"http://localhost:5000/{ACCOUNT}/hub-Queue-1"
        targets = targets_of("sqs", "SendMessageBatch", {"QueueUrl": url}, "us-east-1", ACCOUNT)
        assert targets == [Target("sqs:SendMessage", QUEUE)]

    def test_a_copy_reads_the_source_and_writes_the_destination(self):
        params = {"Bucket": "b", "Key": "replayed/k", "CopySource": {"Bucket": "b", "Key": "k"}}
        assert targets_of("s3", "CopyObject", params, "us-east-1", ACCOUNT) == [
            Target("s3:GetObject", "arn:aws:s3:::b/k"),
            Target("s3:PutObject", "arn:aws:s3:::b/replayed/k"),
        ]

    def test_invoking_by_name_is_invoking_the_function_arn(self):
        (target,) = (
            targets_of("lambda", "Invoke", {"FunctionName": "r"}, "us-east-1", ACCOUNT) or []
        )
        assert target == Target(
            "lambda:InvokeFunction", f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:r"
        )

    def test_an_operation_outside_the_list_is_not_checked(self):
        assert targets_of("sns", "ListTopics", {}, "us-east-1", ACCOUNT) is None

    @pytest.mark.parametrize(
        ("service", "operation", "params", "expected"),
        [
            (
                "secretsmanager",
                "GetSecretValue",
                {"SecretId": f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:hub/w-AbCdEf"},
                Target(
                    "secretsmanager:GetSecretValue",
                    f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:hub/w-AbCdEf",
                ),
            ),
            (
                "secretsmanager",
                "GetSecretValue",
                {"SecretId": "hub/w"},
                Target(
                    "secretsmanager:GetSecretValue",
                    f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:hub/w",
                ),
            ),
            (
                "dynamodb",
                "UpdateItem",
                {"TableName": "orders-idempotency"},
                Target(
                    "dynamodb:UpdateItem",
                    f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/orders-idempotency",
                ),
            ),
            (
                "dynamodb",
                "GetItem",
                {"TableName": f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/view"},
                Target("dynamodb:GetItem", f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/view"),
            ),
            (
                "dynamodbstreams",
                "GetRecords",
                {"ShardIterator": "opaque", "StreamArn": "arn:s"},
                Target("dynamodb:GetRecords", "arn:s"),
            ),
            (
                "sns",
                "GetTopicAttributes",
                {"TopicArn": TOPIC},
                Target("sns:GetTopicAttributes", TOPIC),
            ),
        ],
    )
    def test_the_handlers_and_replays_calls_are_checked(
        self, service: str, operation: str, params: dict[str, Any], expected: Target
    ):
        assert targets_of(service, operation, params, "us-east-1", ACCOUNT) == [expected]


class TestShardIterators:
    """``GetRecords`` names only an iterator: it is checked against the stream it reads."""

    STREAM = f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/t/stream/2026-01-01T00:00:00.000"

    def test_an_iterator_is_checked_as_the_stream_it_was_issued_for(self):
        # GIVEN a checked GetShardIterator of the stream answered with an opaque iterator
        authorizer = Authorizer(store=None, region="us-east-1", account=ACCOUNT)  # type: ignore[arg-type]
        context = {STREAM_OF_CALL: self.STREAM}
        authorizer.after_call(
            SimpleNamespace(name="GetShardIterator"), {"ShardIterator": "i1"}, context
        )
        # WHEN GetRecords follows the iterators it returns
        context = {STREAM_OF_CALL: self.STREAM, API_PARAMS: {"ShardIterator": "i1"}}
        authorizer.after_call(
            SimpleNamespace(name="GetRecords"), {"NextShardIterator": "i2"}, context
        )
        # THEN each iterator reads that stream; an unknown opaque one names none
        assert authorizer.stream_of("i2") == self.STREAM
        assert authorizer.stream_of("unknown") == "*"
        # ... and moto's iterator, which starts with its stream ARN, names it
        assert authorizer.stream_of(f"{self.STREAM}|1|abc") == self.STREAM


class TestCrossAccount:
    """Another account's principal needs BOTH its identity policy and the resource policy.

    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic-cross-account.html
    """

    TEAM = Principal("arn:aws:iam::111122223333:role/team")
    IDENTITY = policy({"Effect": "Allow", "Action": "sns:*", "Resource": "*"})

    def request(self, action: str = "sns:Subscribe") -> Request:
        return Request(self.TEAM, action, TOPIC, SECURE_TRANSPORT)

    @pytest.mark.parametrize("named", ["111122223333", "arn:aws:iam::111122223333:root"])
    def test_an_account_principal_admits_its_roles_when_they_are_allowed(self, named):
        resource = policy(
            {"Effect": "Allow", "Principal": {"AWS": named}, "Action": "sns:Subscribe"}
        )
        assert evaluate_cross_account(self.request(), [self.IDENTITY], resource).decision is (
            Decision.ALLOW
        )
        # the same account grant without the role's own identity policy: denied
        assert evaluate_cross_account(self.request(), [], resource).decision is (
            Decision.IMPLICIT_DENY
        )

    def test_an_identity_policy_alone_is_not_enough(self):
        # Same-account logic would allow this; across accounts it is denied.
        assert evaluate(self.request(), [self.IDENTITY]).decision is Decision.ALLOW
        assert evaluate_cross_account(self.request(), [self.IDENTITY], policy()).decision is (
            Decision.IMPLICIT_DENY
        )

    def test_a_deny_on_either_side_wins(self):
        allow = {"Effect": "Allow", "Principal": {"AWS": "111122223333"}, "Action": "sns:*"}
        deny_all = {"Effect": "Deny", "Principal": "*", "Action": "sns:Subscribe"}
        assert evaluate_cross_account(
            self.request(), [self.IDENTITY], policy(allow, deny_all)
        ).decision is (Decision.EXPLICIT_DENY)
        identity_deny = policy({"Effect": "Deny", "Action": "sns:Subscribe", "Resource": "*"})
        assert evaluate_cross_account(self.request(), [identity_deny], policy(allow)).decision is (
            Decision.EXPLICIT_DENY
        )
