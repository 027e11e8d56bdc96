"""What CloudFormation's CreateStack refuses in a stack's parameters, before any resource.

https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/parameters-section-structure.html
states the constraints (``AllowedValues``, ``AllowedPattern``, ``MinValue``/``MaxValue``,
``MinLength``/``MaxLength``, ``Type: Number``); CloudFormation answers a broken one with a
``ValidationError`` naming the parameter. The texts are CloudFormation's as its users
quote them (e.g. aws-amplify/amplify-cli#6224, aws-ia/taskcat#627); a parameter's own
``ConstraintDescription`` replaces the generic text, as it does on AWS.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from fanout.aws_rules.exceptions import AwsRuleError

PARAMETERS_DOC: Final = "https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/parameters-section-structure.html"
VALIDATION: Final = "ValidationError"


def check_parameter_names(declared: Mapping[str, Any], given: Mapping[str, str]) -> None:
    """Every given parameter is declared, and every declared one without a default is given."""
    unknown = sorted(set(given) - set(declared))
    if unknown:
        raise _refusal(f"Parameters: [{', '.join(unknown)}] do not exist in the template", "")
    missing = [n for n, spec in declared.items() if n not in given and "Default" not in spec]
    if missing:
        raise _refusal(f"Parameters: [{', '.join(missing)}] must have values", "")


def check_parameter_value(name: str, spec: Mapping[str, Any], value: str) -> None:
    """``value`` meets the constraints ``spec`` declares for parameter ``name``."""
    problem = _problem(name, spec, value)
    if problem is None:
        return
    if "ConstraintDescription" in spec:
        problem = f"Parameter {name} failed to satisfy constraint: {spec['ConstraintDescription']}"
    raise _refusal(problem, name)


def _problem(name: str, spec: Mapping[str, Any], value: str) -> str | None:  # noqa: PLR0911 - one answer per constraint
    allowed = spec.get("AllowedValues")
    if allowed is not None and value not in [str(v) for v in allowed]:
        return f"Parameter '{name}' must be one of AllowedValues"
    pattern = spec.get("AllowedPattern")
    if pattern is not None and re.fullmatch(str(pattern), value) is None:
        return f"Parameter '{name}' must match pattern {pattern}"
    if "MinLength" in spec and len(value) < int(spec["MinLength"]):
        return f"Parameter '{name}' must contain at least {spec['MinLength']} characters"
    if "MaxLength" in spec and len(value) > int(spec["MaxLength"]):
        return f"Parameter '{name}' must contain at most {spec['MaxLength']} characters"
    if spec.get("Type") == "Number":
        try:
            number = Decimal(value)
        except InvalidOperation:
            return f"Parameter '{name}' must be a number"
        if "MinValue" in spec and number < Decimal(str(spec["MinValue"])):
            return f"Parameter '{name}' must be a number not less than {spec['MinValue']}"
        if "MaxValue" in spec and number > Decimal(str(spec["MaxValue"])):
            return f"Parameter '{name}' must be a number not greater than {spec['MaxValue']}"
    return None


def _refusal(message: str, name: str) -> AwsRuleError:
    return AwsRuleError(
        VALIDATION, message, f"Parameters/{name}" if name else "Parameters", PARAMETERS_DOC
    )
