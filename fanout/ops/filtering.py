"""A consumer's subscription filter policy, applied to messages the topic never carried.

``fanout backfill`` sends snapshots straight to one consumer's queue, so SNS never
gets to filter them. To deliver exactly what SNS would, each snapshot is matched
against the consumer's subscription ``FilterPolicy`` in its ``FilterPolicyScope``:
the SNS message attributes the router publishes (``type``, ``entity``,
``operation``, ``table``, ``schemaversion``, and ``changed`` for an update), or the
envelope itself (the published message body).
https://docs.aws.amazon.com/sns/latest/dg/sns-subscription-filter-policies.html

The policy is the one the consumer's stack gave its subscription: the consumer kit's
``FilterPolicy`` and ``FilterPolicyScope`` parameters (``fanout.ops.resolve``), read
with the stack like every other fact about the hub.

The local hub's no-loss ledger (``fanout.local.ledger.Subscriber.matches``) matches
with this same code: moto's implementation of SNS's rules
(exact, prefix, suffix, anything-but, numeric, exists, ``$or``), held to SNS's own
delivery by ``tests/integration/test_backfill_filter_policy.py``.

Two facts of SNS the tests rely on: string matching is case-sensitive, and
numeric matching compares numbers in the body or ``Number`` attributes (the router
publishes only ``String`` and ``String.Array`` attributes, so a numeric condition
on one of them never matches).
https://docs.aws.amazon.com/sns/latest/dg/subscription-filter-policy-constraints.html
https://docs.aws.amazon.com/sns/latest/dg/numeric-value-matching.html
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from router.normalise import Outbound

ATTRIBUTES_SCOPE: Final = "MessageAttributes"
BODY_SCOPE: Final = "MessageBody"


@dataclass(frozen=True, slots=True)
class FilterPolicy:
    """A subscription's filter policy and scope; an empty policy delivers everything."""

    policy: Mapping[str, Any] = field(default_factory=dict)
    scope: str = ATTRIBUTES_SCOPE

    @classmethod
    def of_text(cls, policy: str, scope: str = "") -> FilterPolicy:
        """From the JSON text SNS and the consumer kit hold (``FilterPolicy``), and its scope.

        Empty text is no policy, as the kit's ``HasFilterPolicy`` condition has it.
        """
        return cls(
            policy=json.loads(policy) if policy.strip() else {},
            scope=scope or ATTRIBUTES_SCOPE,
        )

    @property
    def filters(self) -> bool:
        """True when the policy can hold a message back."""
        return bool(self.policy)

    def delivers(self, message: Outbound) -> bool:
        """Would SNS deliver ``message`` (as the router would publish it) to this subscription?"""
        return self.matches(message.attributes, message.body)

    def matches(self, attributes: Mapping[str, Mapping[str, str]], body: str) -> bool:
        """Would SNS deliver a message of this body and these attributes (``DataType``/``StringValue``)?"""
        if not self.policy:
            return True
        from moto.sns.utils import FilterPolicyMatcher  # noqa: PLC0415 - SNS's rules, as moto has them

        sns_attributes = {
            name: {"Type": value["DataType"], "Value": value["StringValue"]}
            for name, value in attributes.items()
        }
        return bool(
            FilterPolicyMatcher(dict(self.policy), self.scope).matches(sns_attributes, body)
        )

    def describe(self) -> str:
        """The policy as one line for people, or ``none``."""
        if not self.policy:
            return "none"
        return f"{json.dumps(self.policy, sort_keys=True)} on {self.scope}"
