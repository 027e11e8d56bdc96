"""A template as CloudFormation would create it for given parameters, without creating it."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fanout.stack import (
    evaluate_conditions,
    load_template,
    parameter_values,
    prune_conditionals,
    resolve_find_in_map,
    translate,
)

REGION = "us-east-1"


def resources_for(path: Path, parameters: Mapping[str, str] | None = None) -> dict[str, Any]:
    """``path``'s resources after the SAM transform, its conditions and its mappings.

    Intrinsics other than ``Fn::If`` and ``Fn::FindInMap`` stay as written (``Ref``,
    ``Fn::Sub`` ...), so a test can see which parameter or resource a value comes from.
    """
    source = load_template(path)
    values = parameter_values(source, dict(parameters or {}))
    context = {
        **values,
        "AWS::Region": REGION,
        "AWS::AccountId": "123456789012",
        "AWS::Partition": "aws",
        "AWS::StackName": "hub",
    }
    template = translate(source, values, REGION)
    conditions = evaluate_conditions(template, context)
    active = {
        logical_id: resource
        for logical_id, resource in template["Resources"].items()
        if conditions.get(resource.get("Condition", ""), True)
    }
    pruned = prune_conditionals(active, conditions)
    resolved: dict[str, Any] = resolve_find_in_map(pruned, template.get("Mappings") or {}, context)
    return resolved
