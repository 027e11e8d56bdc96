"""Read and evaluate a SAM/CloudFormation template as CloudFormation would, before anything is created.

Short-form tags, parameter values and their constraints, conditions and rules,
``Fn::If``/``AWS::NoValue``, ``Fn::FindInMap``, the references a node makes, and the
SAM transform itself (``aws-sam-translator``, the library CloudFormation's
``AWS::Serverless`` transform runs), with function code replaced by a stub: locally
the handlers run in-process from the source tree.
"""

from __future__ import annotations

import copy
import logging
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final

import yaml
from samtranslator.parser.parser import Parser  # type: ignore[import-untyped]
from samtranslator.translator.translator import Translator  # type: ignore[import-untyped]

from fanout.aws_rules.cloudformation import check_parameter_names, check_parameter_value
from fanout.deploy.exceptions import StackError

ROOT: Final = Path(__file__).resolve().parent.parent.parent
TEMPLATE: Final = ROOT / "template.yaml"

NESTED_STACK: Final = "AWS::CloudFormation::Stack"

# Code every function gets locally; the local pipeline imports the real handler instead.
STUB_CODE: Final = (
    "# fanout-hub: code is built by `sam build`; locally the handler runs in-process\n"
)
# A layer's content locally: the translator takes an S3 location only (what `sam
# package` writes), and the local pipeline imports the runtime from the source tree.
STUB_LAYER_URI: Final = {"Bucket": "fanout-local-stub", "Key": "layer.zip"}
STUB_LAYER_FILE: Final = "python/fanout_local_stub.py"


class _TemplateLoader(yaml.SafeLoader):
    """YAML loader that reads CloudFormation's short-form tags (``!Ref``, ``!Sub`` ...)."""


def _construct_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = str(value).split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    elif isinstance(node, yaml.MappingNode):
        value = loader.construct_mapping(node, deep=True)
    else:
        raise StackError(f"unexpected YAML node for !{suffix}")
    if suffix == "Condition":
        return {"Condition": value}
    return {name: value}


_TemplateLoader.add_multi_constructor("!", _construct_tag)


def load_template(path: Path) -> dict[str, Any]:
    """A CloudFormation/SAM template (YAML or JSON) as plain dicts, short-form tags expanded."""
    data = yaml.load(path.read_text(encoding="utf-8"), Loader=_TemplateLoader)  # noqa: S506 - SafeLoader subclass  # nosec B506
    if not isinstance(data, dict) or not isinstance(data.get("Resources"), dict):
        raise StackError(f"{path} is not a CloudFormation template")
    return data


def parameter_values(template: Mapping[str, Any], overrides: Mapping[str, str]) -> dict[str, str]:
    """Each parameter's value: the override, else its default.

    Refused as CloudFormation refuses them (``AwsRuleError``, ``ValidationError``): an
    undeclared or missing parameter, and a value (given or default) outside its
    ``AllowedValues``, ``AllowedPattern``, length or number range.
    """
    declared: Mapping[str, Any] = template.get("Parameters") or {}
    check_parameter_names(declared, overrides)
    values: dict[str, str] = {}
    for name, spec in declared.items():
        values[name] = str(overrides[name]) if name in overrides else str(spec["Default"])
        check_parameter_value(name, spec, values[name])
    return values


def _select(args: Any, value: Callable[[Any], Any]) -> Any:
    index, items = args
    return value(items)[int(value(index))]


def _split(args: Any, value: Callable[[Any], Any]) -> Any:
    delimiter, source = args
    return str(value(source)).split(str(value(delimiter)))


def _sub(args: Any, value: Callable[[Any], Any]) -> Any:
    if not isinstance(args, str):
        raise StackError("a condition's Fn::Sub takes a string of ${Parameter} references")
    return re.sub(r"\$\{([^}!]+)\}", lambda m: str(value({"Ref": m.group(1)})), args)


_CONDITION_VALUES: Final[dict[str, Callable[[Any, Callable[[Any], Any]], Any]]] = {
    "Fn::Select": _select,
    "Fn::Split": _split,
    "Fn::Sub": _sub,
}
"""Value functions a condition may compare (Fn::Equals): the Nth item of a list parameter."""


def evaluate_conditions(  # noqa: C901 - one small interpreter, its cases read best together
    template: Mapping[str, Any], context: Mapping[str, str]
) -> dict[str, bool]:
    """The truth of every condition for these parameter (and pseudo parameter) values."""
    definitions: Mapping[str, Any] = template.get("Conditions") or {}
    results: dict[str, bool] = {}

    def value(node: Any) -> Any:
        if isinstance(node, dict) and set(node) == {"Ref"}:
            if node["Ref"] not in context:
                raise StackError(f"a condition refers to {node['Ref']}, not a parameter")
            return context[node["Ref"]]
        if isinstance(node, dict) and set(node) == {"Condition"}:
            return condition(node["Condition"])
        if isinstance(node, dict) and len(node) == 1 and next(iter(node)) in _CONDITION_VALUES:
            ((fn, args),) = node.items()
            return _CONDITION_VALUES[fn](args, value)
        if isinstance(node, dict) and len(node) == 1:
            return truth(node)
        if isinstance(node, list):
            return [value(item) for item in node]
        return node

    def truth(node: Any) -> bool:
        if isinstance(node, dict) and len(node) == 1:
            ((fn, args),) = node.items()
            if fn == "Fn::Equals":
                return str(value(args[0])) == str(value(args[1]))
            if fn == "Fn::Not":
                return not truth(args[0])
            if fn == "Fn::And":
                return all(truth(a) for a in args)
            if fn == "Fn::Or":
                return any(truth(a) for a in args)
            if fn == "Fn::Contains":  # a rule function: the value is one of the strings
                return str(value(args[1])) in {str(value(v)) for v in args[0]}
            if fn == "Condition":
                return condition(args)
        raise StackError(f"unsupported condition function {node!r:.80}")

    def condition(name: str) -> bool:
        if name not in results:
            if name not in definitions:
                raise StackError(f"unknown condition {name}")
            results[name] = truth(definitions[name])
        return results[name]

    for name in definitions:
        condition(name)
    return results


def check_rules(template: Mapping[str, Any], context: Mapping[str, str], name: str) -> None:
    """Apply the template's ``Rules`` as CloudFormation would before creating anything."""
    rules = template.get("Rules") or {}
    if not rules:
        return
    scratch: dict[str, Any] = {"Conditions": {}}
    for rule_name, rule in rules.items():
        scratch["Conditions"] = {"_when": rule.get("RuleCondition", {"Fn::Equals": ["a", "a"]})}
        if not evaluate_conditions(scratch, context)["_when"]:
            continue
        for assertion in rule.get("Assertions", []):
            scratch["Conditions"] = {"_assert": assertion["Assert"]}
            if not evaluate_conditions(scratch, context)["_assert"]:
                reason = assertion.get("AssertDescription", "assertion failed")
                raise StackError(f"{name}: rule {rule_name}: {reason}")


def prune_conditionals(node: Any, conditions: Mapping[str, bool]) -> Any:
    """Pick each ``Fn::If`` branch and drop ``AWS::NoValue``, as CloudFormation does."""
    if isinstance(node, dict):
        if set(node) == {"Fn::If"}:
            name, when_true, when_false = node["Fn::If"]
            return prune_conditionals(when_true if conditions[name] else when_false, conditions)
        pruned = {}
        for key, value in node.items():
            kept = prune_conditionals(value, conditions)
            if kept is not _NO_VALUE:
                pruned[key] = kept
        return pruned
    if isinstance(node, list):
        items = [prune_conditionals(v, conditions) for v in node]
        return [v for v in items if v is not _NO_VALUE]
    return node


class _NoValue:
    def __repr__(self) -> str:
        return "AWS::NoValue"


_NO_VALUE: Final = _NoValue()


def _drop_no_value(node: Any) -> Any:
    if isinstance(node, dict):
        if node == {"Ref": "AWS::NoValue"}:
            return _NO_VALUE
        return {k: _drop_no_value(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_drop_no_value(v) for v in node]
    return node


def resolve_find_in_map(node: Any, mappings: Mapping[str, Any], context: Mapping[str, str]) -> Any:
    """Replace ``Fn::FindInMap`` whose keys are literals or parameters by its value.

    Done here because moto passes ``Number`` parameters as integers, which never
    match a mapping's (always string) keys.
    """
    if isinstance(node, dict):
        if set(node) == {"Fn::FindInMap"}:
            keys = [
                context.get(k["Ref"]) if isinstance(k, dict) and set(k) == {"Ref"} else k
                for k in node["Fn::FindInMap"]
            ]
            if all(isinstance(k, str | int) for k in keys):
                value: Any = mappings
                for key in keys:
                    value = value[str(key)]
                return value
        return {k: resolve_find_in_map(v, mappings, context) for k, v in node.items()}
    if isinstance(node, list):
        return [resolve_find_in_map(v, mappings, context) for v in node]
    return node


def resolve_if_and_no_value(node: Any, conditions: Mapping[str, bool]) -> Any:
    return prune_conditionals(_drop_no_value(node), conditions)


def translate(
    template: Mapping[str, Any], parameters: Mapping[str, str], region: str
) -> dict[str, Any]:
    """The SAM template as plain CloudFormation, function code replaced by ``STUB_CODE``."""
    sam = copy.deepcopy(dict(template))
    for resource in sam["Resources"].values():
        properties = resource.get("Properties") or {}
        if resource.get("Type") == "AWS::Serverless::Function" and "CodeUri" in properties:
            del properties["CodeUri"]
            properties["InlineCode"] = STUB_CODE
        if resource.get("Type") == "AWS::Serverless::LayerVersion":
            properties["ContentUri"] = dict(STUB_LAYER_URI)
    # The translator records usage metrics meant for its own service and warns when
    # they are garbage-collected unpublished; nothing here publishes them.
    logging.getLogger("samtranslator.metrics.metrics").setLevel(logging.ERROR)
    translated: dict[str, Any] = Translator(None, Parser()).translate(
        sam,
        parameter_values={**parameters, "AWS::Region": region},
        get_managed_policy_map=dict,  # every role is explicit; no managed policy is looked up
    )
    return translated


def references(node: Any) -> set[str]:
    """Logical ids a node refers to through Ref, GetAtt or Sub."""
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref" and isinstance(value, str):
                found.add(value)
            elif key == "Fn::GetAtt":
                target = value[0] if isinstance(value, list) else str(value).split(".", 1)[0]
                found.add(target)
            elif key == "Fn::Sub":
                text = value[0] if isinstance(value, list) else value
                found |= {m.split(".", 1)[0] for m in re.findall(r"\$\{([^!}][^}]*)\}", text)}
                if isinstance(value, list):
                    found |= references(value[1])
            else:
                found |= references(value)
    elif isinstance(node, list):
        for value in node:
            found |= references(value)
    return found


def local_layer_folders(template: Mapping[str, Any], template_path: Path) -> dict[str, str]:
    """Logical id to folder of each ``AWS::Serverless::LayerVersion`` whose ContentUri is local.

    ``sam build`` packages that folder as the layer (a makefile build may install into
    it, https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/building-layers.html);
    locally the folder's source is the layer's code.
    """
    folders: dict[str, str] = {}
    for logical_id, resource in (template.get("Resources") or {}).items():
        content = (resource.get("Properties") or {}).get("ContentUri")
        if (
            resource.get("Type") == "AWS::Serverless::LayerVersion"
            and isinstance(content, str)
            and not content.startswith("s3://")
        ):
            folders[logical_id] = str((template_path.parent / content).resolve())
    return folders


def layer_folder(logical_id: str, folders: Mapping[str, str]) -> str | None:
    """The folder of a translated layer version: SAM names it ``<LogicalId><10-hex hash>``."""
    for sam_id, folder in folders.items():
        if re.fullmatch(re.escape(sam_id) + "[0-9a-f]{10}", logical_id) or sam_id == logical_id:
            return folder
    return None
