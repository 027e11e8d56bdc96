"""One ``--filter`` syntax for every command: ``KEY=VALUE[,VALUE...]`` to an SNS filter policy.

``fanout consumer new --filter`` and ``fanout tail --filter`` both read it. Each
filter names one SNS message attribute the router publishes (``router.normalise``)
and the values it may hold; the values of one filter are alternatives (OR), and
filters on different keys must all match (AND), as SNS applies a policy:

- ``type=order.created,order.updated`` → ``{"type": ["order.created", "order.updated"]}``
- ``type=prefix:order.`` or ``type=order.*`` → ``{"type": [{"prefix": "order."}]}``
- ``changed=status`` → ``{"changed": ["status"]}``: the router publishes ``changed``
  as a ``String.Array`` of the attribute names an update changed, and SNS matches a
  string value against an array attribute when any of its elements equals it.

https://docs.aws.amazon.com/sns/latest/dg/example-filter-policies.html (a policy
value ``["rugby"]`` matches the ``String.Array`` attribute ``["soccer", "rugby", "hockey"]``)
https://docs.aws.amazon.com/sns/latest/dg/string-value-matching.html (exact and prefix)
https://docs.aws.amazon.com/sns/latest/dg/subscription-filter-policy-constraints.html
(at most 5 keys; at most 150 combinations of values; case-sensitive)
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from typing import Final

FILTER_KEYS: Final = ("type", "entity", "operation", "table", "schemaversion", "changed")
"""The message attributes the router publishes (``router.normalise``), in its order."""

PREFIX: Final = "prefix:"
MAX_KEYS: Final = 5  # SNS: "A filter policy can have a maximum of five keys."
MAX_COMBINATIONS: Final = 150  # SNS: the product of the values per key must not exceed 150.

FilterPolicyDict = dict[str, list[object]]


class FilterSyntaxError(ValueError):
    """A ``--filter`` that is not ``KEY=VALUE[,VALUE...]`` over a published attribute."""


def valid_keys() -> str:
    """The one line that lists the keys a filter may name."""
    return ", ".join(FILTER_KEYS)


def parse_filters(filters: Iterable[str]) -> FilterPolicyDict:
    """The SNS filter policy of ``KEY=VALUE[,VALUE...]`` filters (empty: no policy).

    Raises ``FilterSyntaxError`` with one line naming what is wrong.
    """
    policy: FilterPolicyDict = {}
    for text in filters:
        key, sep, values = text.partition("=")
        key = key.strip()
        if not sep or not key:
            raise FilterSyntaxError(
                f"filter {text!r} is not KEY=VALUE[,VALUE...] (keys: {valid_keys()})"
            )
        if key not in FILTER_KEYS:
            raise FilterSyntaxError(f"unknown filter key {key!r}: valid keys are {valid_keys()}")
        parsed = [_condition(value.strip(), text) for value in values.split(",")]
        for condition in parsed:
            if condition not in policy.setdefault(key, []):
                policy[key].append(condition)
    if len(policy) > MAX_KEYS:
        raise FilterSyntaxError(f"SNS allows at most {MAX_KEYS} keys in a filter policy")
    combinations = math.prod(len(values) for values in policy.values())
    if combinations > MAX_COMBINATIONS:
        raise FilterSyntaxError(
            f"the filters make {combinations} combinations of values; SNS allows {MAX_COMBINATIONS}"
        )
    return policy


def _condition(value: str, text: str) -> object:
    if value.startswith(PREFIX):
        prefix = value.removeprefix(PREFIX)
        if not prefix:
            raise FilterSyntaxError(f"filter {text!r}: 'prefix:' needs the text to match")
        return {"prefix": prefix}
    if not value:
        raise FilterSyntaxError(f"filter {text!r} has an empty value")
    if "*" in value:
        if value.endswith("*") and "*" not in value[:-1] and len(value) > 1:
            return {"prefix": value[:-1]}
        raise FilterSyntaxError(
            f"filter value {value!r}: only a trailing * (a prefix) is supported"
        )
    return value


def parse_filter_argument(filters: Iterable[str]) -> FilterPolicyDict:
    """``parse_filters``, or the raw JSON form: one filter that starts with ``{``.

    The raw form is an SNS filter policy as JSON text, passed on as is (SNS checks
    it); ``KEY=VALUE`` never starts with ``{``, so the two cannot be confused.
    """
    given = list(filters)
    raw = [text for text in given if text.lstrip().startswith("{")]
    if not raw:
        return parse_filters(given)
    if len(given) > 1:
        raise FilterSyntaxError("a JSON filter policy is the whole filter: give it alone")
    try:
        policy = json.loads(raw[0])
    except ValueError as exc:
        raise FilterSyntaxError(f"the JSON filter policy is not valid JSON: {exc}") from None
    if not isinstance(policy, dict):
        raise FilterSyntaxError("the JSON filter policy must be a JSON object")
    return policy
