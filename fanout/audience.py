"""Who receives an event: every consumer whose subscription filter policy admits it.

``fanout consumers --entity user`` is the list to warn before changing the ``user`` item;
``fanout schema check`` prints it for each entity with a breaking change.

A question fixes some of the SNS message attributes the router publishes (``type``,
``entity``, ``operation``) and leaves the others open (``table``, ``schemaversion``,
``changed``, anything in the body but those three). Each policy is evaluated with SNS's own
rules (``fanout.ops.filtering``: AND across keys, OR across a key's values, ``$or``
between alternatives) on the keys the question fixes; a key on an attribute it leaves
open makes the answer "may receive", said with the key, never a silent yes or no.
https://docs.aws.amazon.com/sns/latest/dg/sns-subscription-filter-policies.html
https://docs.aws.amazon.com/sns/latest/dg/and-or-logic.html
https://docs.aws.amazon.com/sns/latest/dg/sns-message-filtering-scope.html

When the operation is not fixed, it is one of the few the router writes, so
each is tried: a policy that admits some of them receives "some" of the events, and the
answer names which.

Sources: the consumers ``template.yaml`` nests (the consumer kit's ``ConsumerName``,
``FilterPolicy``, ``FilterPolicyScope`` and ``Owner`` parameters), offline; and, when a
hub is reachable, the topic's live subscriptions (``ListSubscriptionsByTopic``,
``GetSubscriptionAttributes``), which include other teams' consumers. A subscribed queue's
owner is its ``fanout:owner`` tag (``ListQueueTags``); a queue of another account does not
answer that call to this account ("Cross-account permissions don't apply to this
action"), so its owner shows as unknown.
https://docs.aws.amazon.com/sns/latest/api/API_ListSubscriptionsByTopic.html
https://docs.aws.amazon.com/sns/latest/api/API_GetSubscriptionAttributes.html
https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_ListQueueTags.html
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import Any, Final

from fanout.ops.filtering import ATTRIBUTES_SCOPE, BODY_SCOPE, FilterPolicy

OWNER_TAG: Final = "fanout:owner"
"""The queue tag (and consumer kit parameter ``Owner``) naming the team to warn."""
UNKNOWN_OWNER: Final = "unknown"
OPERATIONS: Final = ("created", "updated", "deleted", "expired", "snapshot")
"""Every ``operation`` the router and ``fanout backfill`` publish (``router.normalise``)."""
KIT_LOCATION_SUFFIX: Final = "consumers/kit/template.yaml"
_FIXABLE: Final = ("type", "entity", "operation")


class Admission(StrEnum):
    """How a consumer's policy answers a question."""

    RECEIVES = "receives"
    SOME = "receives some"
    MAY_RECEIVE = "may receive"
    REFUSES = "refuses"


@dataclass(frozen=True, slots=True)
class Question:
    """The events asked about; a None attribute is any value."""

    type: str | None = None
    entity: str | None = None
    operation: str | None = None

    def refusal(self) -> str | None:
        """Why the router publishes no event like the one asked about, if so (a usage error).

        A ``type`` is ``<entity>.<operation>`` with one of the router's operations, and
        an entity is lower case: ``router.normalise`` lower-cases the entity it reads
        from an item, so ``User.updated`` or ``user.bogus`` would match nothing and
        list nobody, which reads as "nobody receives it".
        """
        if self.type is not None:
            entity, _, operation = self.type.rpartition(".")
            if not entity or operation not in OPERATIONS:
                return (
                    f"--type {self.type} is not <entity>.<operation> with an operation the"
                    f" router publishes ({', '.join(OPERATIONS)}), e.g. user.updated"
                )
            if entity != entity.lower():
                return (
                    f"--type {self.type}: the router lower-cases entities, try {self.type.lower()}"
                )
        if self.entity and self.entity != self.entity.lower():
            return f"--entity {self.entity!r}: the router lower-cases entities, try {self.entity.lower()!r}"
        return self.contradiction()

    def contradiction(self) -> str | None:
        """Why no event can match every attribute given (a type of another entity...), if so."""
        if not self.type:
            return None
        head, _, tail = self.type.rpartition(".")
        for name, given, implied in (
            ("entity", self.entity, head),
            ("operation", self.operation, tail),
        ):
            if given and implied and given != implied:
                return f"--type {self.type} has {name} {implied!r}, not {given!r}"
        return None

    def events(self) -> list[dict[str, str]]:
        """The (partial) events this question covers: the attributes it fixes."""
        entity, operation = self.entity, self.operation
        if self.type:
            head, _, tail = self.type.rpartition(".")
            entity, operation = entity or head or None, operation or tail or None
        operations: Sequence[str] = [operation] if operation else OPERATIONS
        events = []
        for op in operations:
            event = {"entity": entity, "operation": op}
            event["type"] = self.type or (f"{entity}.{op}" if entity and op else None)
            events.append({k: v for k, v in event.items() if v})
        return events

    def describe(self) -> str:
        """The question as the filter flags say it."""
        parts = [f"{k}={v}" for k, v in (("type", self.type), ("entity", self.entity)) if v]
        if self.operation:
            parts.append(f"operation={self.operation}")
        return ", ".join(parts) or "every event"


@dataclass(frozen=True, slots=True)
class Verdict:
    """A policy's answer to a question, with the reason when it is not a plain yes or no."""

    admission: Admission
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Consumer:
    """One subscription to the hub topic."""

    name: str
    owner: str
    policy: FilterPolicy | None
    """None when the policy cannot be known offline (built by the template at deploy time)."""
    source: str
    """``template.yaml`` or ``topic`` (a live subscription)."""
    endpoint: str = ""
    condition: str = ""
    """The template condition that creates it, when there is one."""


@dataclass(frozen=True, slots=True)
class Affected:
    """A consumer that receives, or may receive, the events asked about."""

    consumer: Consumer
    verdict: Verdict

    def as_dict(self) -> dict[str, str]:
        """The row ``--json`` prints and the table shows."""
        return {
            "consumer": self.consumer.name,
            "owner": self.consumer.owner,
            "admits": str(self.verdict.admission),
            "why": self.verdict.reason,
            "source": self.consumer.source
            + (f" (if {self.consumer.condition})" if self.consumer.condition else ""),
        }


# ------------------------------------------------------------------ evaluation


def verdict(policy: FilterPolicy | None, question: Question) -> Verdict:
    """How ``policy`` answers ``question`` under SNS's filter-policy rules."""
    if policy is None:
        return Verdict(Admission.MAY_RECEIVE, "its filter policy is set at deploy time")
    if not policy.filters:
        return Verdict(Admission.RECEIVES, "no filter policy")
    answers = [(event, _answer(policy, event)) for event in question.events()]
    yes = [event for event, (answer, _) in answers if answer is True]
    open_keys = sorted({key for _, (answer, keys) in answers if answer is None for key in keys})
    if len(yes) == len(answers):
        return Verdict(Admission.RECEIVES, policy.describe())
    if open_keys:
        return Verdict(
            Admission.MAY_RECEIVE,
            f"depends on {', '.join(open_keys)}, which the question leaves open: "
            + policy.describe(),
        )
    if yes:
        kinds = ", ".join(event.get("type") or event.get("operation", "?") for event in yes)
        return Verdict(Admission.SOME, f"only {kinds}: {policy.describe()}")
    return Verdict(Admission.REFUSES, policy.describe())


def _answer(policy: FilterPolicy, event: Mapping[str, str]) -> tuple[bool | None, set[str]]:
    """True, False, or None (unknown: and the open keys) for one partial event."""
    unknown: set[str] = set()
    for alternative in _alternatives(dict(policy.policy)):
        result: bool | None = True
        keys: set[str] = set()
        for key, condition in alternative.items():
            if key in _FIXABLE and key in event and isinstance(condition, list):
                if not _matches(policy.scope, key, condition, event[key]):
                    result = False
                    break
            else:
                keys.add(key)
                result = None
        if result is True:
            return True, set()
        if result is None:
            unknown |= keys
    return (None, unknown) if unknown else (False, set())


def _alternatives(policy: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The policy as plain AND-policies: each ``$or`` split into its alternatives.

    https://docs.aws.amazon.com/sns/latest/dg/and-or-logic.html
    """
    ors = policy.get("$or")
    if not isinstance(ors, list) or not all(isinstance(o, dict) for o in ors):
        yield policy
        return
    base = {k: v for k, v in policy.items() if k != "$or"}
    for branch in ors:
        for expanded in _alternatives(branch):
            for rest in _alternatives(base):
                yield {**rest, **expanded}


def _matches(scope: str, key: str, condition: list[Any], value: str) -> bool:
    """SNS's answer for one key, on a message that carries ``value`` there (and nothing else)."""
    single = FilterPolicy({key: condition}, scope)
    if scope == BODY_SCOPE:
        return single.matches({}, json.dumps({key: value}))
    return single.matches({key: {"DataType": "String", "StringValue": value}}, "{}")


def affected(consumers: Iterable[Consumer], question: Question) -> list[Affected]:
    """The consumers that receive, or may receive, the events asked about, by name."""
    found = [Affected(c, verdict(c.policy, question)) for c in consumers]
    return sorted(
        (a for a in found if a.verdict.admission is not Admission.REFUSES),
        key=lambda a: a.consumer.name,
    )


# ------------------------------------------------------------------ sources


def template_consumers(template_path: Path) -> list[Consumer]:
    """The consumers a hub template nests with the consumer kit, as their parameters say."""
    from fanout.deploy.template import load_template  # noqa: PLC0415 - YAML only when asked

    template = load_template(template_path)
    found = []
    for logical_id, resource in template["Resources"].items():
        properties = resource.get("Properties") or {}
        location = properties.get("Location")
        if resource.get("Type") != "AWS::Serverless::Application" or not (
            isinstance(location, str) and location.endswith(KIT_LOCATION_SUFFIX)
        ):
            continue
        parameters = properties.get("Parameters") or {}
        policy_text, scope = (
            parameters.get("FilterPolicy", ""),
            parameters.get("FilterPolicyScope", ATTRIBUTES_SCOPE),
        )
        policy = (
            FilterPolicy.of_text(policy_text, scope)
            if isinstance(policy_text, str) and isinstance(scope, str)
            else None
        )
        owner = parameters.get("Owner")
        found.append(
            Consumer(
                name=str(parameters.get("ConsumerName") or logical_id),
                owner=owner if isinstance(owner, str) and owner else UNKNOWN_OWNER,
                policy=policy,
                source="template.yaml",
                condition=str(resource.get("Condition") or ""),
            )
        )
    return found


def topic_consumers(
    sns: Any, sqs: Any, topic_arn: str, names: Mapping[str, str] | None = None
) -> list[Consumer]:
    """The topic's live subscriptions; ``names`` maps a queue ARN to its consumer's name."""
    names = names or {}
    found = []
    for page in sns.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=topic_arn):
        for subscription in page["Subscriptions"]:
            arn = subscription["SubscriptionArn"]
            if arn == "PendingConfirmation":
                continue  # no attributes until confirmed; it receives nothing yet
            attributes = sns.get_subscription_attributes(SubscriptionArn=arn)["Attributes"]
            endpoint = subscription.get("Endpoint", "")
            found.append(
                Consumer(
                    name=names.get(endpoint) or endpoint.rsplit(":", 1)[-1] or arn,
                    owner=_queue_owner(sqs, endpoint)
                    if subscription.get("Protocol") == "sqs"
                    else UNKNOWN_OWNER,
                    policy=FilterPolicy.of_text(
                        attributes.get("FilterPolicy", ""),
                        attributes.get("FilterPolicyScope", ""),
                    ),
                    source="topic",
                    endpoint=endpoint,
                )
            )
    return found


def _queue_owner(sqs: Any, queue_arn: str) -> str:
    """The queue's ``fanout:owner`` tag; unknown when absent or unreadable from here."""
    from botocore.exceptions import ClientError  # noqa: PLC0415 - boto only for a live hub

    parts = queue_arn.split(":")
    if len(parts) != 6:  # noqa: PLR2004 - arn:partition:sqs:region:account:name
        return UNKNOWN_OWNER
    try:
        url = sqs.get_queue_url(QueueName=parts[5], QueueOwnerAWSAccountId=parts[4])["QueueUrl"]
        tags = sqs.list_queue_tags(QueueUrl=url).get("Tags") or {}
    except ClientError:
        return UNKNOWN_OWNER
    return str(tags.get(OWNER_TAG) or UNKNOWN_OWNER)


def merged(template: Iterable[Consumer], live: Iterable[Consumer]) -> list[Consumer]:
    """Live subscriptions, plus the template's consumers the topic does not show (not deployed).

    A live consumer whose queue tag cannot be read (no ``sqs:ListQueueTags``) keeps the
    owner the template declares for the consumer of that name, since that template
    deployed it.
    """
    declared = {c.name: c for c in template}
    found = [
        replace(c, owner=declared[c.name].owner)
        if c.owner == UNKNOWN_OWNER and c.name in declared
        else c
        for c in live
    ]
    seen = {c.name for c in found}
    return [*found, *(c for c in declared.values() if c.name not in seen)]


def rows(found: Iterable[Affected]) -> list[dict[str, str]]:
    """Table rows for ``found``."""
    return [a.as_dict() for a in found]
