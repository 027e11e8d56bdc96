"""``fanout env-vars``: the ``--env-vars`` file for ``sam local invoke``, from a live hub.

``sam build`` leaves ``TOPIC_ARN: !Ref Topic`` and the like unresolved, and ``sam local
invoke`` has no stack to resolve them against, so each function would see a logical id
(``TOPIC_ARN=Topic``) and refuse it at cold start. This command writes the real values,
read from where they already exist:

- the running local hub (``fanout local up`` records every function's resolved
  environment in its state file), or
- a deployed stack (``--stack-name``): each function's environment as Lambda holds it
  (``GetFunctionConfiguration``), for every ``AWS::Lambda::Function`` of the stack and
  of its nested stacks (``ListStackResources``, paginated, where ``DescribeStackResources``
  stops at 100 resources:
  https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_DescribeStackResources.html).
  A nested application is an ``AWS::CloudFormation::Stack`` resource whose physical id
  is the child stack's id; ``fanout.deploy`` (the local deployer) creates it as a
  separate stack instead (``nested_stack_name``), found from the template's
  ``AWS::Serverless::Application`` resources.

The file has one object per function, keyed by its full path (``RouterFunction``,
``AuditLogConsumer/ConsumerFunction``), and each nested function once more by the logical
id ``make local-build`` lifts it to in the template ``sam local invoke`` runs
(``AuditLogConsumerFunction``, ``fanout.local_invoke``). SAM CLI looks a function up by logical id, then
function id, function name, then full path
(https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/serverless-sam-cli-using-invoke.html,
``samcli/commands/local/lib/local_lambda.py`` ``_make_env_vars``); the kit's functions all
have the logical id ``ConsumerFunction``, so only the full path tells them apart, and no
bare ``ConsumerFunction`` key is written (it would win for all three). SAM CLI sets only
variables the template declares (``samcli/local/lambdafn/env_vars.py``
``EnvironmentVariables.resolve``), so the file carries the function's own variables, and
from the local hub also ``AWS_ENDPOINT_URL``, which the templates declare only when their
``LocalEndpointUrl`` parameter is set (as the printed `sam local invoke` command does).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

from botocore.exceptions import BotoCoreError, ClientError

from fanout.connection import Connection
from fanout.deploy.deployer import nested_stack_name
from fanout.deploy.template import NESTED_STACK, TEMPLATE, load_template
from fanout.local_invoke import lifted_path
from fanout.ops.resolve import describe_stack
from fanout.options import connection_options, sdk_failure, where

EnvVars = dict[str, dict[str, str]]
"""Function full path -> its environment variables (the ``--env-vars`` file)."""

DEFAULT_OUTPUT: Final = Path("env.json")
FUNCTION: Final = "AWS::Lambda::Function"
_APPLICATIONS: Final = frozenset({"AWS::Serverless::Application", NESTED_STACK})
ENDPOINT_VARIABLE: Final = "AWS_ENDPOINT_URL"
# What `sam local invoke` needs besides the file to reach the local hub: the templates'
# LocalEndpointUrl declares AWS_ENDPOINT_URL (any non-empty value; the file sets the real
# one). Credentials need nothing: SAM CLI passes yours or its defaults, moto takes any.
LOCAL_HUB_INVOKE: Final = (
    "sam local invoke RouterFunction --event events/router/insert.json --env-vars {output}"
    ' --parameter-overrides "LogLevel=DEBUG Architecture=x86_64 LocalEndpointUrl={endpoint}"'
    "{network}"
)


class EnvVarsError(LookupError):
    """There is nothing to read the functions' environment from (the message says why)."""


def from_local_hub(state: Mapping[str, Any], *, endpoint_host: str | None = None) -> EnvVars:
    """Every function of a running local hub, from its state file (``load_state()``).

    Each function also gets ``AWS_ENDPOINT_URL``, the hub's address (with ``endpoint_host``
    in place of its host, for a container that reaches the host by another name): the
    templates declare that variable when ``LocalEndpointUrl`` is set, which is how a
    function in `sam local invoke` talks to the hub instead of AWS.
    """
    functions = state.get("functions") or []
    if not functions:
        raise EnvVarsError("the running local hub's state lists no functions")
    endpoint = hub_endpoint(state, endpoint_host)
    return with_local_invoke_ids(
        {
            str(f.get("logical_id") or f["name"]): {
                **{k: str(v) for k, v in f["environment"].items()},
                **({ENDPOINT_VARIABLE: endpoint} if endpoint else {}),
            }
            for f in functions
        }
    )


def with_local_invoke_ids(env_vars: EnvVars) -> EnvVars:
    """``env_vars`` plus each nested function under its id in the local-invoke template.

    ``make local-build`` lifts ``AuditLogConsumer/ConsumerFunction`` into the hub stack as
    ``AuditLogConsumerFunction`` (``fanout.local_invoke``), the logical id SAM CLI looks up
    first; the full path stays for a template that nests the kit.
    """
    lifted = {lifted_path(path): path for path in env_vars}
    return {
        **env_vars,
        **{
            name: dict(env_vars[path])
            for name, path in lifted.items()
            if name is not None and name not in env_vars
        },
    }


def hub_endpoint(state: Mapping[str, Any], endpoint_host: str | None = None) -> str | None:
    """The hub's endpoint URL, its host replaced by ``endpoint_host`` when given."""
    endpoint = state.get("endpoint_url")
    if not endpoint:
        return None
    url = urlsplit(str(endpoint))
    if not endpoint_host:
        return url.geturl()
    netloc = f"{endpoint_host}:{url.port}" if url.port else endpoint_host
    return url._replace(netloc=netloc).geturl()


def from_stack(connection: Connection, stack_name: str, template: Path = TEMPLATE) -> EnvVars:
    """Every function of the deployed stack ``stack_name`` and of its nested stacks."""
    cloudformation = connection.client("cloudformation")
    lambda_ = connection.client("lambda")
    if not _exists(cloudformation, stack_name):
        where = connection.endpoint_url or f"AWS region {connection.region}"
        raise EnvVarsError(f"no stack {stack_name!r} at {where}")
    found: EnvVars = {}
    for path, function in _functions(cloudformation, stack_name, "", template):
        config = lambda_.get_function_configuration(FunctionName=function)
        variables = (config.get("Environment") or {}).get("Variables") or {}
        found[path] = {k: str(v) for k, v in variables.items()}
    if not found:
        raise EnvVarsError(f"stack {stack_name!r} has no Lambda functions")
    return with_local_invoke_ids(found)


def _functions(
    cloudformation: Any, stack: str, prefix: str, template: Path | None
) -> Iterator[tuple[str, str]]:
    """(full path, physical function name) of every function under ``stack``."""
    nested: dict[str, str] = {}
    for page in cloudformation.get_paginator("list_stack_resources").paginate(StackName=stack):
        for resource in page["StackResourceSummaries"]:
            logical_id, physical = resource["LogicalResourceId"], resource.get("PhysicalResourceId")
            if not physical:
                continue
            if resource["ResourceType"] == FUNCTION:
                yield prefix + logical_id, physical
            elif resource["ResourceType"] == NESTED_STACK:
                nested[logical_id] = physical
    children = _applications(template)
    if not nested:
        # The local deployer makes each nested application a separate stack; a missing
        # one is an application its condition left out.
        for logical_id in children:
            name = nested_stack_name(stack, logical_id)
            if _exists(cloudformation, name):
                nested[logical_id] = name
    for logical_id, physical in nested.items():
        yield from _functions(
            cloudformation, physical, f"{prefix}{logical_id}/", children.get(logical_id)
        )


def _applications(template: Path | None) -> dict[str, Path | None]:
    """Logical id -> local child template of each nested application in ``template``."""
    if template is None or not template.is_file():
        return {}
    found: dict[str, Path | None] = {}
    for logical_id, resource in (load_template(template).get("Resources") or {}).items():
        if resource.get("Type") in _APPLICATIONS:
            properties = resource.get("Properties") or {}
            location = properties.get("Location") or properties.get("TemplateURL")
            local = template.parent / location if isinstance(location, str) else None
            found[logical_id] = local if local is not None and local.is_file() else None
    return found


def _exists(cloudformation: Any, stack: str) -> bool:
    found = describe_stack(cloudformation, stack)
    return found is not None and not found.get("StackStatus", "").startswith("DELETE_COMPLETE")


def write(env_vars: EnvVars, target: Path) -> None:
    """Write the file readable by its owner only: a function's variables may hold a secret."""
    text = json.dumps(env_vars, indent=2, sort_keys=True) + "\n"
    descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)
    target.chmod(0o600)  # an existing file keeps its mode through O_TRUNC


# ---------------------------------------------------------------------------- command


def register(subcommands: Any) -> None:
    """Add ``env-vars``."""
    parser = subcommands.add_parser(
        "env-vars",
        help="write the --env-vars file for `sam local invoke` from the local hub or a stack",
        description=(
            "Write every function's environment, as the running local hub or a deployed "
            "stack resolved it, in the format of `sam local invoke --env-vars`. With no "
            "--stack-name, the running `fanout local up`'s."
        ),
        parents=[connection_options()],
    )
    parser.add_argument(
        "--endpoint-host",
        help=(
            "without --stack-name: the name a container reaches this machine by, e.g."
            " host.docker.internal on Docker Desktop (default: the hub's own address, for"
            " `sam local invoke --docker-network host` on Linux)"
        ),
    )
    parser.add_argument(
        "--template",
        type=Path,
        default=TEMPLATE,
        help="the template the stack was deployed from (names its nested applications)",
    )
    parser.add_argument(
        "-o",
        "--output",
        default=str(DEFAULT_OUTPUT),
        help="file to write (default: env.json; '-' prints to stdout)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Write the file; 2 with one line on stderr when there is nothing to read."""
    try:
        env_vars, source, endpoint = _collect(args)
    except EnvVarsError as exc:
        print(f"fanout env-vars: {exc}", file=sys.stderr)
        return 2
    except (BotoCoreError, ClientError) as exc:
        # No credentials, no network, access denied: one line.
        return sdk_failure("fanout env-vars", exc)
    if args.output == "-":
        print(json.dumps(env_vars, indent=2, sort_keys=True))
        return 0
    write(env_vars, Path(args.output))
    if endpoint:
        network = "" if args.endpoint_host else " --docker-network host"
        invoke = LOCAL_HUB_INVOKE.format(output=args.output, endpoint=endpoint, network=network)
    else:
        invoke = (
            "sam local invoke RouterFunction --event events/router/insert.json"
            f" --env-vars {args.output}"
        )
    print(
        f"wrote {args.output} from {source}: {', '.join(sorted(env_vars))}\nnext: {invoke}",
        file=sys.stderr,
    )
    return 0


def _collect(args: argparse.Namespace) -> tuple[EnvVars, str, str | None]:
    """The functions' variables, where they came from, and the local hub's endpoint if any."""
    if args.stack_name:
        place = where(args)
        session = None
        if place.local is not None and place.profile is None:
            from fanout.local.server import local_session  # noqa: PLC0415 - only for a local hub

            session = local_session(place.region)
        connection = Connection(
            endpoint_url=place.endpoint_url,
            region=place.region,
            profile=place.profile,
            session=session,
        )
        found = from_stack(connection, args.stack_name, args.template)
        return found, f"stack {args.stack_name}", None
    from fanout.local.hub import load_state  # noqa: PLC0415 - only to find a local hub

    state = load_state()
    if state is None:
        raise EnvVarsError(
            "no local hub is running (start one with `fanout local up`) and no --stack-name given"
        )
    endpoint = hub_endpoint(state, args.endpoint_host)
    found = from_local_hub(state, endpoint_host=args.endpoint_host)
    return found, f"the local hub at {state.get('endpoint_url')}", endpoint
