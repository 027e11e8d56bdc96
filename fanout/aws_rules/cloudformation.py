"""What CloudFormation's CreateStack refuses in a stack's parameters, before any resource.

https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/parameters-section-structure.html
states the constraints (``AllowedValues``, ``AllowedPattern``, ``MinValue``/``MaxValue``,
``MinLength``/``MaxLength``, ``Type: Number``); CloudFormation answers a broken one with a
``ValidationError`` naming the parameter. CloudFormation's own texts, as its users quote
them, for undeclared and missing parameters, ``AllowedValues`` (aws-amplify/amplify-cli#6224)
and a ``ConstraintDescription`` (aws-ia/taskcat#627, aws/aws-cli#7750), which replaces the
generic text as it does on AWS; the pattern, length and number texts are the documented
rule in our words.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Final

from fanout.aws_rules.exceptions import AwsRuleError

PARAMETERS_DOC: Final = "https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/parameters-section-structure.html"
VALIDATION: Final = "ValidationError"
# "An integer or float" (the Number type): digits, no NaN, no infinity, no separators.
_NUMBER: Final = re.compile(r"[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?")


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
        if _NUMBER.fullmatch(value) is None:
            return f"Parameter '{name}' must be a number"
        number = Decimal(value)
        if "MinValue" in spec and number < Decimal(str(spec["MinValue"])):
            return f"Parameter '{name}' must be a number not less than {spec['MinValue']}"
        if "MaxValue" in spec and number > Decimal(str(spec["MaxValue"])):
            return f"Parameter '{name}' must be a number not greater than {spec['MaxValue']}"
    return None


def _refusal(message: str, name: str) -> AwsRuleError:
    return AwsRuleError(
        VALIDATION, message, f"Parameters/{name}" if name else "Parameters", PARAMETERS_DOC
    )
