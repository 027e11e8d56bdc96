"""Values resolved by the endpoint's CloudFormation for resources it does not create.

Intrinsic functions inside the resources created by API (and nested-stack
parameters) are resolved by CloudFormation itself: each such value is added to the
stack as an extra output (a "probe") and read back, so ``Ref``/``GetAtt``/``Sub``
mean exactly what the endpoint's CloudFormation says they mean. A plain ``Ref`` to a
resource created by API is filled in later with its physical id (``LateRef``).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from fanout.deploy.exceptions import StackError

_INTRINSICS: Final = frozenset(
    {
        "Ref",
        "Fn::GetAtt",
        "Fn::Sub",
        "Fn::Join",
        "Fn::Select",
        "Fn::Split",
        "Fn::FindInMap",
        "Fn::ImportValue",
        "Fn::Base64",
        "Fn::GetAZs",
    }
)


@dataclass
class Probes:
    """Values to resolve through CloudFormation: each leaf intrinsic becomes an output."""

    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    _counter: Iterator[int] = field(default_factory=itertools.count)

    def mark(self, node: Any) -> Any:
        """``node`` with every intrinsic replaced by a placeholder output name."""
        if isinstance(node, dict):
            if len(node) == 1 and next(iter(node)) in _INTRINSICS:
                name = f"FanoutProbe{next(self._counter):04d}"
                self.outputs[name] = {"Value": node}
                return _Placeholder(name)
            return {k: self.mark(v) for k, v in node.items()}
        if isinstance(node, list):
            return [self.mark(v) for v in node]
        return node


@dataclass(frozen=True, slots=True)
class _Placeholder:
    output: str


def fill(node: Any, outputs: Mapping[str, Any]) -> Any:
    if isinstance(node, _Placeholder):
        return outputs[node.output]
    if isinstance(node, dict):
        return {k: fill(v, outputs) for k, v in node.items()}
    if isinstance(node, list):
        return [fill(v, outputs) for v in node]
    return node


@dataclass(frozen=True, slots=True)
class LateRef:
    """A ``Ref`` to an API-created resource, filled in with its physical id once it exists."""

    logical_id: str


def late_refs(node: Any, deferred: set[str]) -> Any:
    """``node`` with every plain ``Ref`` to an API-created resource left for later."""
    if isinstance(node, dict):
        if set(node) == {"Ref"} and node["Ref"] in deferred:
            return LateRef(str(node["Ref"]))
        return {k: late_refs(v, deferred) for k, v in node.items()}
    if isinstance(node, list):
        return [late_refs(v, deferred) for v in node]
    return node


def fill_late_refs(node: Any, physical: Mapping[str, str]) -> Any:
    if isinstance(node, LateRef):
        if node.logical_id not in physical:
            raise StackError(f"{node.logical_id} is referred to before it exists")
        return physical[node.logical_id]
    if isinstance(node, dict):
        return {k: fill_late_refs(v, physical) for k, v in node.items()}
    if isinstance(node, list):
        return [fill_late_refs(v, physical) for v in node]
    return node


def split_parameters(node: Any, values: Mapping[str, str]) -> Any:
    """``Fn::Split`` of a parameter, split here.

    The value is a list (``Fn::Split`` "returns a list of string values",
    https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/intrinsic-function-reference-split.html),
    and a probe output can only carry a string: moto writes the list's Python repr.
    """
    if isinstance(node, dict):
        if set(node) == {"Fn::Split"}:
            delimiter, source = node["Fn::Split"]
            if isinstance(source, dict) and set(source) == {"Ref"} and source["Ref"] in values:
                return str(values[source["Ref"]]).split(str(delimiter))
        return {k: split_parameters(v, values) for k, v in node.items()}
    if isinstance(node, list):
        return [split_parameters(v, values) for v in node]
    return node
