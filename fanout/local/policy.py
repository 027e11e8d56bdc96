"""A small IAM policy evaluator: does a policy set allow one request, in one account?

moto does not evaluate topic or queue policies, and its IAM access control
(``moto/iam/access_control.py``, used only with ``INITIAL_NO_AUTH_ACTION_COUNT``)
checks identity policies of IAM users and assumed roles by action only ("TODO add
support for the Resource and Condition parts of IAM policies"). So the local hub
evaluates the template's policies itself, with AWS's documented logic:
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic_policy-eval-denyallow.html

- an explicit ``Deny`` in any applicable policy wins; otherwise
- within one account the request is allowed if the principal's identity policies
  OR the resource's policy allow it ("If either the identity-based policy or the
  resource-based policy within the same account allows the request and the other
  doesn't, the request is still allowed",
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic_policy-eval-basics.html);
- otherwise it is implicitly denied.

A resource policy ``Allow`` naming the account (``arn:aws:iam::ACCOUNT:root``)
delegates to the account's identity policies; it grants nothing to a role by
itself (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html#principal-accounts).
Only the policy elements and condition operators the hub's templates use are
supported; anything else raises ``UnsupportedPolicyError`` rather than guessing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Final


class UnsupportedPolicyError(ValueError):
    """A policy uses an element or condition operator this evaluator does not implement."""


class Decision(Enum):
    """The outcome of one evaluation."""

    ALLOW = "allow"
    EXPLICIT_DENY = "explicit-deny"
    IMPLICIT_DENY = "implicit-deny"

    @property
    def allowed(self) -> bool:
        """True only for ALLOW."""
        return self is Decision.ALLOW


@dataclass(frozen=True, slots=True)
class Principal:
    """Who makes a request: an IAM role or the account root (``arn``), or a service."""

    arn: str = ""
    service: str = ""
    """A service principal (``sns.amazonaws.com``) instead of an ARN."""

    @property
    def account(self) -> str:
        """The account id in the ARN ("" for a service)."""
        parts = self.arn.split(":")
        return parts[4] if len(parts) > 4 else ""  # noqa: PLR2004 - arn:partition:service:region:account

    @property
    def is_root(self) -> bool:
        """True for the account root user."""
        return self.arn.endswith(":root")


@dataclass(frozen=True, slots=True)
class Request:
    """One API request, as policy evaluation sees it.

    ``context`` holds the condition keys; ``aws:PrincipalArn`` and ``aws:PrincipalAccount``
    are filled in from an IAM principal (a role's ARN, not its session's, as AWS does for
    an assumed role) and absent for a service principal, whose request carries
    ``aws:SourceArn``/``aws:SourceAccount`` in ``context`` instead.
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html
    """

    principal: Principal
    action: str
    resource: str
    context: Mapping[str, str | bool] = field(default_factory=dict)

    def key(self, name: str) -> str | bool | None:
        """A condition key's value (keys are case-insensitive), or None when absent."""
        if name.lower() == "aws:principalarn" and self.principal.arn:
            return self.principal.arn
        if name.lower() == "aws:principalaccount" and self.principal.account:
            return self.principal.account
        for key, value in self.context.items():
            if key.lower() == name.lower():
                return value
        return None


# ---------------------------------------------------------------------------- matching


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]


def _wildcard(pattern: str, value: str, *, case_sensitive: bool) -> bool:
    """IAM's ``*`` (any run) and ``?`` (one character); no character classes."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    flags = 0 if case_sensitive else re.IGNORECASE
    return re.fullmatch(regex, value, flags | re.DOTALL) is not None


def action_matches(pattern: str, action: str) -> bool:
    """Actions are case-insensitive and may use wildcards (``sqs:*``, ``s3:Get*``)."""
    return _wildcard(pattern, action, case_sensitive=False)


def resource_matches(pattern: str, resource: str) -> bool:
    """Resource ARNs are case-sensitive and may use wildcards."""
    return _wildcard(pattern, resource, case_sensitive=True)


def _matches_any(patterns: Any, value: str, match: Any) -> bool:
    return any(match(str(p), value) for p in _as_list(patterns))


def principal_matches(element: Any, principal: Principal, *, for_allow: bool) -> bool:
    """Does a resource policy's ``Principal`` name this principal?

    ``"*"`` is everyone. ``{"AWS": ARN}`` names a role or user exactly; ``{"AWS":
    account root or account id}`` names the account: for a Deny that covers every
    principal of the account, for an Allow only the root (the account's own identity
    policies decide for its roles).
    """
    if element == "*":
        return True
    if not isinstance(element, Mapping):
        raise UnsupportedPolicyError(f"Principal {element!r}")
    for kind, values in element.items():
        for value in _as_list(values):
            text = str(value)
            if kind == "Service" and principal.service and text == principal.service:
                return True
            if kind != "AWS" or not principal.arn:
                continue
            if text in ("*", principal.arn):
                return True
            account = text.split(":")[4] if text.startswith("arn:") else text
            names_account = text.endswith(":root") or text.isdigit()
            if (
                names_account
                and account == principal.account
                and (principal.is_root or not for_allow)
            ):
                return True
    return False


SUPPORTED_OPERATORS: Final = frozenset(
    {
        "ArnEquals",
        "ArnLike",
        "ArnNotEquals",
        "ArnNotLike",
        "StringEquals",
        "StringNotEquals",
        "StringLike",
        "StringNotLike",
        "Bool",
    }
)


def _condition_holds(operator: str, key: str, expected: Any, request: Request) -> bool:
    """One operator on one key.

    A key absent from the request context does not match: a positive operator is
    false, a negated one (``StringNotEquals``, ``ArnNotLike``...) true. ``...IfExists``
    operators (true when the key is absent) are not used by the templates and so are
    refused as unsupported rather than half-implemented.
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html
    """
    if operator not in SUPPORTED_OPERATORS:
        raise UnsupportedPolicyError(f"condition operator {operator}")
    actual = request.key(key)
    values = [str(v) for v in _as_list(expected)]
    negated = operator in {"ArnNotEquals", "ArnNotLike", "StringNotEquals", "StringNotLike"}
    if actual is None:
        # "If the key that you specify in a policy condition is not present in the
        # request context, the values do not match" -- and a negated operator is then true.
        return negated
    text = str(actual).lower() if isinstance(actual, bool) else str(actual)
    if operator in {"ArnEquals", "ArnLike", "ArnNotEquals", "ArnNotLike"}:
        hit = any(resource_matches(v, text) for v in values)
    elif operator in {"StringEquals", "StringNotEquals"}:
        hit = text in values
    elif operator in {"StringLike", "StringNotLike"}:
        hit = any(_wildcard(v, text, case_sensitive=True) for v in values)
    elif operator == "Bool":
        hit = text in {v.lower() for v in values}
    else:
        raise UnsupportedPolicyError(f"condition operator {operator}")
    return not hit if negated else hit


def conditions_hold(condition: Mapping[str, Any] | None, request: Request) -> bool:
    """Every operator and every key must hold (AND); values of one key are OR'ed."""
    for operator, keys in (condition or {}).items():
        for key, expected in keys.items():
            if not _condition_holds(operator, key, expected, request):
                return False
    return True


# ---------------------------------------------------------------------------- statements


def _element_matches(
    statement: Mapping[str, Any], name: str, value: str, match: Any, *, required: bool
) -> bool:
    """``Action``/``NotAction`` or ``Resource``/``NotResource`` against one value."""
    if name in statement:
        return _matches_any(statement[name], value, match)
    if f"Not{name}" in statement:
        return not _matches_any(statement[f"Not{name}"], value, match)
    if required:
        raise UnsupportedPolicyError(f"a statement without {name} or Not{name}")
    return True


def statement_applies(
    statement: Mapping[str, Any], request: Request, *, resource_policy: bool
) -> bool:
    """Whether a statement covers the request (its Effect aside)."""
    if not _element_matches(statement, "Action", request.action, action_matches, required=True):
        return False
    # A resource policy may leave Resource out: it then means the resource it is on.
    if not _element_matches(
        statement, "Resource", request.resource, resource_matches, required=not resource_policy
    ):
        return False
    if resource_policy:
        if "NotPrincipal" in statement or "Principal" not in statement:
            raise UnsupportedPolicyError("a resource policy statement needs a Principal")
        allow = statement.get("Effect") == "Allow"
        if not principal_matches(statement["Principal"], request.principal, for_allow=allow):
            return False
    return conditions_hold(statement.get("Condition"), request)


def _statements(document: Mapping[str, Any] | str) -> list[Mapping[str, Any]]:
    parsed = json.loads(document) if isinstance(document, str) else document
    # moto keeps a statement CloudFormation dropped (``!If [c, ..., !Ref AWS::NoValue]``) as null.
    return [dict(s) for s in _as_list(parsed.get("Statement", [])) if s is not None]


@dataclass(frozen=True, slots=True)
class Evaluation:
    """A decision and the statement that made it (for the error message)."""

    decision: Decision
    reason: str


def evaluate(
    request: Request,
    identity_policies: Iterable[Mapping[str, Any] | str],
    resource_policy: Mapping[str, Any] | str | None = None,
) -> Evaluation:
    """Same-account evaluation: explicit deny, then any allow, else implicit deny.

    The account root is allowed by its identity (it "has full access") unless a
    resource policy denies it.
    """
    allowed_by = ""
    sources: list[tuple[str, Sequence[Mapping[str, Any]], bool]] = [
        ("identity policy", s, False) for s in (_statements(p) for p in identity_policies)
    ]
    if resource_policy is not None:
        sources.append(("resource policy", _statements(resource_policy), True))
    for name, statements, is_resource in sources:
        for statement in statements:
            if not statement_applies(statement, request, resource_policy=is_resource):
                continue
            label = f"{name} statement {statement.get('Sid', '(no Sid)')}"
            if statement.get("Effect") == "Deny":
                return Evaluation(Decision.EXPLICIT_DENY, f"explicitly denied by the {label}")
            if statement.get("Effect") == "Allow":
                allowed_by = allowed_by or label
    if request.principal.is_root:
        return Evaluation(Decision.ALLOW, "the account root user")
    if allowed_by:
        return Evaluation(Decision.ALLOW, f"allowed by the {allowed_by}")
    return Evaluation(
        Decision.IMPLICIT_DENY, "no identity-based or resource-based policy allows it"
    )


SECURE_TRANSPORT: Final = {"aws:SecureTransport": True}
"""The local hub's calls count as TLS (docs/local.md): an SDK talks HTTPS to AWS."""


def evaluate_cross_account(
    request: Request,
    identity_policies: Iterable[Mapping[str, Any] | str],
    resource_policy: Mapping[str, Any] | str,
) -> Evaluation:
    """A request from another account: BOTH sides must allow it.

    "the principal's identity-based policy and the resource-based policy must both
    allow the request" when the principal and the resource are in different accounts:
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic-cross-account.html
    A resource policy naming the principal's account (root ARN or bare id) trusts that
    account, which then decides for its roles through their identity policies
    (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html#principal-accounts).
    An explicit Deny on either side wins.
    """
    identity = evaluate(request, identity_policies)
    if identity.decision is Decision.EXPLICIT_DENY:
        return identity
    trusted_by = ""
    for statement in _statements(resource_policy):
        if not statement_applies_to_account(statement, request):
            continue
        label = f"resource policy statement {statement.get('Sid', '(no Sid)')}"
        if statement.get("Effect") == "Deny":
            return Evaluation(Decision.EXPLICIT_DENY, f"explicitly denied by the {label}")
        if statement.get("Effect") == "Allow":
            trusted_by = trusted_by or label
    if not trusted_by:
        return Evaluation(
            Decision.IMPLICIT_DENY, "no resource policy statement allows the other account"
        )
    if not identity.decision.allowed:
        return Evaluation(
            Decision.IMPLICIT_DENY, f"{trusted_by} allows it, but no identity policy does"
        )
    return Evaluation(Decision.ALLOW, f"{identity.reason} and by the {trusted_by}")


def statement_applies_to_account(statement: Mapping[str, Any], request: Request) -> bool:
    """Whether a resource policy statement covers the request, an account principal
    standing for every principal of its account."""
    if not _element_matches(statement, "Action", request.action, action_matches, required=True):
        return False
    if not _element_matches(
        statement, "Resource", request.resource, resource_matches, required=False
    ):
        return False
    if "NotPrincipal" in statement or "Principal" not in statement:
        raise UnsupportedPolicyError("a resource policy statement needs a Principal")
    if not principal_matches(statement["Principal"], request.principal, for_allow=False):
        return False
    return conditions_hold(statement.get("Condition"), request)
