"""The template ``sam local invoke`` runs: the local build with each consumer kit's function lifted.

Every consumer is the generic kit (``consumers/kit/template.yaml``) nested as an
``AWS::Serverless::Application``, and its function attaches the layers the hub passes in
(``Layers: [!Ref RuntimeLayerArn, !Ref CodeLayerArn]``, the parent's ``!Ref
ConsumerRuntimeLayer`` and ``!Ref ConsumersCodeLayer``). ``sam build`` builds all of it,
but ``sam local invoke`` cannot run such a function: SAM CLI resolves a layer ``Ref`` to a
local ``LayerVersion`` only within the function's own stack
(``SamFunctionProvider._parse_layer_info`` → ``_locate_layer_from_ref`` in
``samcli/lib/providers/sam_function_provider.py``), and a parameter passed down from the
parent arrives as the plain string ``ConsumerRuntimeLayer``. A layer that is not the
template's own is downloaded by its ARN, whose layer name and version SAM CLI reads
(https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/serverless-sam-cli-layers.html),
so it refuses that string: "ConsumerRuntimeLayer is an Invalid Layer Arn."
(https://github.com/aws/aws-sam-cli/issues/2820,
https://github.com/aws/aws-sam-cli/issues/3003; SAM CLI's own
``TestBuildPassingLayerAcrossStacks`` in ``tests/integration/buildcmd/test_build_cmd.py``
expects that error; only ``sam sync`` searches the parent, ``locate_layer_nested``).

So after ``sam build`` (``make local-build``) this module writes a second template next to
the built one, ``local-invoke.yaml``: the built parent's resources, without the nested
applications, and with each one's function lifted into the parent as ``<App>Function``
(``AuditLogConsumerFunction``). The lifted function keeps the kit's built artifact
(``CodeUri``) and takes the kit's ``Handler``, ``Runtime``, ``Architectures``,
``Timeout``, ``MemorySize`` and ``Layers`` with the kit's parameters replaced by what the
application passes, so its layers become same-stack ``!Ref ConsumerRuntimeLayer`` and
``!Ref ConsumersCodeLayer``, which SAM CLI resolves to the built layer folders. Of its
environment it keeps every variable name the kit declares (SAM CLI sets only declared
variables, ``samcli/local/lambdafn/env_vars.py``); a value that names something of the
kit's own stack (its queue, its conditions) is left empty, for ``fanout env-vars``' file
to fill in. The kit's role, events, alarms and queues have no part in a local invoke.

It is derived from the build rather than from ``template.yaml``: ``sam build`` has already
turned each kit's function package and each layer's ``ContentUri`` into built folders, so
the lifted function runs exactly what the nested one would, with one build and no make
target of its own (a makefile build runs ``build-<LogicalId>``, and the kit's Makefile
knows ``build-ConsumerFunction`` alone).

Nothing here changes the kit or ``template.yaml``: teams nesting the published kit are
unaffected, and the template is rewritten from the build on every ``make local-build``.
"""

from __future__ import annotations

import argparse
import sys
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any, Final

import yaml

from fanout.deploy.exceptions import StackError
from fanout.deploy.template import load_template, references

TEMPLATE_NAME: Final = "local-invoke.yaml"
"""The file this module writes in the build folder (samconfig.toml's local_invoke names it)."""
BUILT_TEMPLATE: Final = "template.yaml"
"""The template ``sam build`` writes in its build folder."""
KIT_FUNCTION: Final = "ConsumerFunction"
"""The consumer kit's function (``consumers/kit/template.yaml``)."""
APPLICATION: Final = "AWS::Serverless::Application"
FUNCTION: Final = "AWS::Serverless::Function"
# The kit function's properties a local invoke uses; its role, tracing, logging and
# events name resources of the kit's own stack and play no part in `sam local invoke`.
REQUIRED: Final = ("Handler", "Runtime")
CARRIED: Final = (*REQUIRED, "Architectures", "Timeout", "MemorySize", "Layers")


class _Dumper(yaml.SafeDumper):
    """Writes the mappings SAM CLI's YAML parsing makes: once imported, it registers an
    ``OrderedDict`` constructor on ``yaml.SafeLoader`` (``samcli/yamlhelper.py``), which
    ``load_template``'s loader inherits."""


_Dumper.add_representer(OrderedDict, lambda dumper, data: dumper.represent_dict(data))


class LocalInvokeError(StackError):
    """The build cannot be turned into a local-invoke template (the message says why)."""


class _KitOnly(Exception):  # noqa: N818 - a signal inside _lift, never raised out of it
    """A value names a resource, condition or mapping of the nested stack itself."""


def lifted_id(application: str, function: str = KIT_FUNCTION) -> str:
    """The logical id a nested function gets in the local-invoke template.

    The kit's function becomes ``<App>Function`` (``AuditLogConsumerFunction``); any other
    function of a nested application ``<App><Function>``.
    """
    suffix = "Function" if function == KIT_FUNCTION else function
    return f"{application}{suffix}"


def lifted_path(full_path: str) -> str | None:
    """``AuditLogConsumer/ConsumerFunction`` → ``AuditLogConsumerFunction``; None for a top-level function."""
    parts = full_path.split("/")
    if len(parts) != 2:  # noqa: PLR2004 - one application, one function
        return None
    return lifted_id(parts[0], parts[1])


def local_invoke_template(build_dir: Path) -> dict[str, Any]:
    """The built template of ``build_dir`` with every nested application's functions lifted."""
    built = build_dir / BUILT_TEMPLATE
    if not built.is_file():
        raise LocalInvokeError(f"{built} does not exist: run `sam build` (make local-build) first")
    template = load_template(built)
    resources: dict[str, Any] = template["Resources"]
    lifted: dict[str, Any] = {}
    applications: set[str] = set()
    for logical_id, resource in resources.items():
        if resource.get("Type") != APPLICATION:
            continue
        location = (resource.get("Properties") or {}).get("Location")
        if not isinstance(location, str) or not (build_dir / location).is_file():
            continue  # a published application (S3, SAR): nothing of it is built here
        applications.add(logical_id)
        lifted.update(_lift_application(build_dir, logical_id, resource))
    kept = {k: v for k, v in resources.items() if k not in _dependents(resources, applications)}
    collisions = sorted(set(lifted) & set(kept))
    if collisions:
        raise LocalInvokeError(f"lifted functions collide with resources: {', '.join(collisions)}")
    derived = {k: v for k, v in template.items() if k not in {"Resources", "Outputs"}}
    # Outputs name the nested applications' outputs, and a local invoke reads none.
    derived["Resources"] = {**kept, **lifted}
    return derived


def _dependents(resources: Mapping[str, Any], removed: set[str]) -> set[str]:
    """``removed`` and every resource that refers to one of them, transitively."""
    gone = set(removed)
    while True:
        more = {
            logical_id
            for logical_id, resource in resources.items()
            if logical_id not in gone
            and (references(resource) & gone or set(_listed(resource.get("DependsOn"))) & gone)
        }
        if not more:
            return gone
        gone |= more


def _listed(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _lift_application(
    build_dir: Path, application: str, resource: Mapping[str, Any]
) -> dict[str, Any]:
    """Every function of one nested application, as functions of the parent."""
    properties = resource.get("Properties") or {}
    location = PurePosixPath(properties["Location"])
    child = load_template(build_dir / location)
    declared = child.get("Parameters") or {}
    passed = properties.get("Parameters") or {}
    values = {
        name: passed[name] if name in passed else spec["Default"]
        for name, spec in declared.items()
        if name in passed or "Default" in (spec or {})
    }
    lifted: dict[str, Any] = {}
    for logical_id, function in (child.get("Resources") or {}).items():
        if function.get("Type") != FUNCTION:
            continue
        where = f"{application}/{logical_id}"
        lifted[lifted_id(application, logical_id)] = _lift_function(
            function, values, set(declared), location.parent, where
        )
        if "Condition" in resource:
            # The application's condition leaves its function out the same way.
            lifted[lifted_id(application, logical_id)]["Condition"] = resource["Condition"]
    return lifted


def _lift_function(
    function: Mapping[str, Any],
    values: Mapping[str, Any],
    parameters: set[str],
    folder: PurePosixPath,
    where: str,
) -> dict[str, Any]:
    """One nested function as a function of the parent (see the module docstring)."""
    source = function.get("Properties") or {}
    code_uri = source.get("CodeUri")
    if not isinstance(code_uri, str):
        raise LocalInvokeError(f"{where}: CodeUri {code_uri!r} is not a built folder")
    lifted: dict[str, Any] = {"CodeUri": str(folder / code_uri)}
    for key in CARRIED:
        if key not in source:
            if key in REQUIRED:
                raise LocalInvokeError(f"{where} has no {key}")
            continue
        try:
            lifted[key] = _lift(source[key], values, parameters)
        except _KitOnly as exc:
            raise LocalInvokeError(f"{where}: {key} names {exc} of the nested stack") from None
    variables = ((source.get("Environment") or {}).get("Variables")) or {}
    if variables:
        lifted["Environment"] = {
            "Variables": {
                name: _lift_or_empty(value, values, parameters) for name, value in variables.items()
            }
        }
    return {"Type": FUNCTION, "Properties": lifted}


def _lift_or_empty(value: Any, values: Mapping[str, Any], parameters: set[str]) -> Any:
    """The value in the parent's terms, or "" when only the nested stack can resolve it."""
    try:
        return _lift(value, values, parameters)
    except _KitOnly:
        return ""


def _lift(node: Any, values: Mapping[str, Any], parameters: set[str]) -> Any:
    """``node`` with each ``Ref`` to a nested parameter replaced by the value passed for it.

    Pseudo parameters stay; anything else that only the nested stack resolves (a ``Ref``
    to its resources, ``Fn::If`` on its conditions, ``Fn::FindInMap``, ``Fn::Sub``,
    ``Fn::GetAtt``) raises ``_KitOnly``.
    """
    if isinstance(node, list):
        return [_lift(item, values, parameters) for item in node]
    if not isinstance(node, dict):
        return node
    if set(node) == {"Ref"}:
        name = node["Ref"]
        if isinstance(name, str) and name.startswith("AWS::"):
            return node
        if name in parameters and name in values:
            return values[name]
        raise _KitOnly(name)
    intrinsic = [key for key in node if key.startswith("Fn::") or key == "Condition"]
    if intrinsic:
        raise _KitOnly(intrinsic[0])
    return {key: _lift(value, values, parameters) for key, value in node.items()}


def write(build_dir: Path) -> Path:
    """Write ``local-invoke.yaml`` into ``build_dir``; its path."""
    template = local_invoke_template(build_dir)
    target = build_dir / TEMPLATE_NAME
    header = (
        "# Written by `python -m fanout.local_invoke` (make local-build) from template.yaml\n"
        "# of this folder, for `sam local invoke` only: see fanout/local_invoke.py.\n"
    )
    target.write_text(
        header + yaml.dump(template, Dumper=_Dumper, sort_keys=False, width=120), encoding="utf-8"
    )
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m fanout.local_invoke",
        description="Write the local-invoke template next to a `sam build` output.",
    )
    parser.add_argument(
        "--build-dir",
        type=Path,
        required=True,
        help="the `sam build` folder (make local-build: LOCAL_INVOKE_BUILD_DIR)",
    )
    args = parser.parse_args(argv)
    try:
        target = write(args.build_dir)
    except StackError as exc:
        print(f"fanout.local_invoke: {exc}", file=sys.stderr)
        return 2
    functions = [
        logical_id
        for logical_id, resource in load_template(target)["Resources"].items()
        if resource.get("Type") == FUNCTION
    ]
    print(f"wrote {target}: {', '.join(functions)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
