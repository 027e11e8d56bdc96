"""Another team's SAM project on the local hub: its layers built, its stack replaced and removed.

``sam build`` builds a layer that has a ``Metadata.BuildMethod``: with ``makefile`` it
runs the ``build-<LogicalId>`` target of the Makefile in the layer's ``ContentUri``
folder (or ``Metadata.ContextPath``) with ``ARTIFACTS_DIR`` set, and what lands there
is the layer; with a runtime (``python3.x``) it installs the folder's
``requirements.txt`` next to its code. Without ``Metadata`` it takes the folder as it is.
https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/building-layers.html
Lambda unpacks a layer to ``/opt`` and puts its ``python/`` folder on ``sys.path``:
https://docs.aws.amazon.com/lambda/latest/dg/python-layers.html

So a project deployed with ``fanout local deploy-consumer`` runs with what its own build
gives it, never with whatever the hub's environment happens to hold. The hub's own
layers (``ContentUri: .``, this repository) are not built: they run from the source tree.
"""

from __future__ import annotations

import shutil
import subprocess  # nosec B404 - runs make and pip with argv built here, never a shell
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from botocore.exceptions import ClientError

from fanout.connection import Connection
from fanout.deploy.deployer import nested_stack_name
from fanout.deploy.template import NESTED_STACK, load_template

MAKE_OUTPUT_TAIL: Final = 12
"""Lines of a failed build's output quoted in its error."""
BUILD_TIMEOUT_SECONDS: Final = 600


class LayerBuildError(RuntimeError):
    """A layer's build failed: names the layer and quotes the end of the build's output."""


def _run(argv: list[str], what: str, cwd: Path | None = None) -> None:
    try:
        done = subprocess.run(  # noqa: S603 - argv built here, no shell  # nosec B603
            argv,
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=BUILD_TIMEOUT_SECONDS,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise LayerBuildError(f"{what}: {exc}") from exc
    if done.returncode != 0:
        tail = (done.stdout + done.stderr).strip().splitlines()[-MAKE_OUTPUT_TAIL:]
        raise LayerBuildError(
            f"{what} failed (exit {done.returncode}): " + " | ".join(line.strip() for line in tail)
        )


def build_layers(template_path: Path, into: Path) -> dict[str, str]:
    """Build each local layer of the template that names a build method, under ``into``.

    Returns each built layer's source folder (as ``fanout.deploy`` records it) to the
    folder to put on a function's import path instead. Raises ``LayerBuildError``.
    """
    template_path = template_path.resolve()
    built: dict[str, str] = {}
    for logical_id, resource in (load_template(template_path).get("Resources") or {}).items():
        if resource.get("Type") != "AWS::Serverless::LayerVersion":
            continue
        content = (resource.get("Properties") or {}).get("ContentUri")
        if not isinstance(content, str) or content.startswith("s3://"):
            continue
        folder = (template_path.parent / content).resolve()
        metadata = resource.get("Metadata") or {}
        method = str(metadata.get("BuildMethod") or "")
        artifacts = into / logical_id
        if method == "makefile":
            context = metadata.get("ContextPath")
            make_in = (template_path.parent / context).resolve() if context else folder
            artifacts.mkdir(parents=True)
            make = shutil.which("make") or "make"
            _run(
                [make, "-C", str(make_in), f"build-{logical_id}", f"ARTIFACTS_DIR={artifacts}"],
                f"layer {logical_id}: make build-{logical_id}",
            )
        elif method.startswith("python"):
            shutil.copytree(folder, artifacts / "python")
            requirements = folder / "requirements.txt"
            if requirements.is_file():
                # Installed for this interpreter: the local invoker runs the handlers here.
                _run(
                    [
                        sys.executable,
                        "-m",
                        "pip",
                        "install",
                        "--quiet",
                        "--requirement",
                        str(requirements),
                        "--target",
                        str(artifacts / "python"),
                    ],
                    f"layer {logical_id}: pip install -r {requirements}",
                )
        else:
            continue  # no build method: sam build takes the folder as it is
        if not (artifacts / "python").is_dir():
            raise LayerBuildError(
                f"layer {logical_id}: the build left no python/ folder in ARTIFACTS_DIR,"
                " which is the folder Lambda puts on sys.path"
            )
        built[str(folder)] = str(artifacts / "python")
    return built


# ---------------------------------------------------------------------------- a stack left behind


def stack_names(template_path: Path, stack_name: str) -> list[str]:
    """The stack and the child stacks ``fanout.deploy.deployer.deploy`` makes for its nested applications."""
    resources = load_template(template_path).get("Resources") or {}
    children = [
        nested_stack_name(stack_name, logical_id)
        for logical_id, resource in resources.items()
        if resource.get("Type") in {"AWS::Serverless::Application", NESTED_STACK}
    ]
    return [*children, stack_name]


def live_stacks(connection: Connection, names: list[str]) -> list[str]:
    """Those of ``names`` that exist (not deleted) in the connection's account."""
    cloudformation = connection.client("cloudformation")
    found: list[str] = []
    for name in names:
        try:
            stacks = cloudformation.describe_stacks(StackName=name)["Stacks"]
        except ClientError:
            continue  # "Stack with id ... does not exist"
        if any(s.get("StackStatus") != "DELETE_COMPLETE" for s in stacks):
            found.append(name)
    return found


def remove_leftover(
    connection: Connection, names: list[str], topic_owner: Connection, topic_arn: str
) -> None:
    """Delete stacks a run that did not finish left behind, and their queues' subscriptions.

    ``topic_owner`` acts in the hub's account, where the subscriptions to its topic are.
    """
    cloudformation = connection.client("cloudformation")
    queue_arns: set[str] = set()
    for name in names:
        queue_arns |= _release(connection, name)
    sns = topic_owner.client("sns")
    pages = (
        sns.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=topic_arn)
        if topic_arn
        else []
    )
    for page in pages:
        for subscription in page["Subscriptions"]:
            if subscription["Endpoint"] in queue_arns:
                sns.unsubscribe(SubscriptionArn=subscription["SubscriptionArn"])
    for name in names:
        cloudformation.delete_stack(StackName=name)
        cloudformation.get_waiter("stack_delete_complete").wait(
            StackName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 120}
        )


def _release(connection: Connection, name: str) -> set[str]:
    """The ARNs of the stack's queues; its roles' managed policies detached (IAM refuses otherwise)."""
    sqs, iam = connection.client("sqs"), connection.client("iam")
    queue_arns: set[str] = set()
    for summary in _resources(connection.client("cloudformation"), name):
        physical = summary.get("PhysicalResourceId", "")
        if summary["ResourceType"] == "AWS::SQS::Queue" and physical:
            try:
                attributes = sqs.get_queue_attributes(
                    QueueUrl=physical, AttributeNames=["QueueArn"]
                )
            except ClientError:
                continue
            queue_arns.add(attributes["Attributes"]["QueueArn"])
        elif summary["ResourceType"] == "AWS::IAM::Role" and physical:
            for policy in _attached(iam, physical):
                iam.detach_role_policy(RoleName=physical, PolicyArn=policy)
    return queue_arns


def _resources(cloudformation: Any, name: str) -> list[Mapping[str, Any]]:
    found: list[Mapping[str, Any]] = []
    try:
        for page in cloudformation.get_paginator("list_stack_resources").paginate(StackName=name):
            found.extend(page["StackResourceSummaries"])
    except ClientError:
        return []
    return found


def _attached(iam: Any, role: str) -> list[str]:
    try:
        return [
            p["PolicyArn"]
            for p in iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]
        ]
    except ClientError:
        return []
