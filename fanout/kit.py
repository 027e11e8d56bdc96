"""``fanout kit publish``: the consumer kit as a versioned, immutable artifact of the hub.

Another team nests the kit by URL (``AWS::Serverless::Application`` ``Location``), so
it is uploaded to the hub's artifacts bucket (``ArtifactsBucketName`` output of
``template.yaml``) under ``consumer-kit/<runtime version>/template.yaml``, the version
being ``consumers.runtime.__version__``: the kit and the runtime layer it attaches are
released together. A published version never changes: a stack deployed from it must
redeploy the same kit tomorrow. So publishing a version already there with the same
bytes is a no-op, and with other bytes it is refused (``KitVersionExistsError``): raise
the runtime version instead.

The upload is conditional (``If-None-Match: *``), so two publishers racing cannot both
write a version: https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Final

from botocore.exceptions import BotoCoreError, ClientError

from fanout.build import ROOT
from fanout.connection import Connection
from fanout.options import (
    EXIT_FAILED,
    EXIT_USAGE,
    connection_options,
    fail,
    sdk_failure,
    where,
)

KIT_TEMPLATE: Final = ROOT / "consumers" / "kit" / "template.yaml"
KIT_PREFIX: Final = "consumer-kit/"
ARTIFACTS_OUTPUT: Final = "ArtifactsBucketName"


class KitVersionExistsError(RuntimeError):
    """Another kit is already published under this version (published versions never change)."""


class KitPublishError(RuntimeError):
    """The kit cannot be published (no artifacts bucket, refused upload...)."""


def kit_version() -> str:
    """The version the kit is published under: the consumer runtime's."""
    from consumers.runtime import __version__  # noqa: PLC0415 - only when publishing

    return __version__


def kit_key(version: str) -> str:
    """The kit's object key for one version."""
    return f"{KIT_PREFIX}{version}/template.yaml"


def kit_location(bucket: str, region: str, version: str) -> str:
    """The kit's URL as a ``Location``/``TemplateURL`` (virtual-hosted style, with the region).

    https://docs.aws.amazon.com/AmazonS3/latest/userguide/VirtualHosting.html
    """
    return f"https://{bucket}.s3.{region}.amazonaws.com/{kit_key(version)}"


def artifacts_bucket(clients: Connection, stack_name: str) -> str:
    """The hub stack's artifacts bucket, from its ``ArtifactsBucketName`` output."""
    try:
        stacks = clients.client("cloudformation").describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as exc:
        raise KitPublishError(f"cannot read the hub stack {stack_name!r}: {exc}") from exc
    outputs = {o["OutputKey"]: o.get("OutputValue", "") for o in stacks[0].get("Outputs", [])}
    if not outputs.get(ARTIFACTS_OUTPUT):
        raise KitPublishError(f"the stack {stack_name!r} has no {ARTIFACTS_OUTPUT} output")
    return str(outputs[ARTIFACTS_OUTPUT])


def publish_kit(
    clients: Connection,
    bucket: str,
    *,
    template: Path = KIT_TEMPLATE,
    version: str | None = None,
) -> str:
    """Upload ``template`` as kit ``version`` (default: the runtime's) to ``bucket``; its URL.

    Idempotent for the same bytes; ``KitVersionExistsError`` for different ones.
    """
    version = version or kit_version()
    key = kit_key(version)
    body = template.read_bytes()
    s3 = clients.client("s3")
    location = kit_location(bucket, clients.region, version)
    existing = _published(s3, bucket, key)
    if existing is not None:
        if existing != body:
            raise KitVersionExistsError(_changed(bucket, key, version))
        return location
    try:
        s3.put_object(
            Bucket=bucket, Key=key, Body=body, ContentType="application/x-yaml", IfNoneMatch="*"
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "PreconditionFailed":
            if _published(s3, bucket, key) == body:
                return location  # the same kit, published meanwhile
            raise KitVersionExistsError(_changed(bucket, key, version)) from exc
        raise KitPublishError(f"cannot upload s3://{bucket}/{key}: {exc}") from exc
    return location


def _changed(bucket: str, key: str, version: str) -> str:
    return (
        f"s3://{bucket}/{key} already holds another kit {version}; a published version never"
        " changes: raise consumers.runtime.__version__ (and the template's ConsumerRuntime"
        " mapping) to publish this one"
    )


def _published(s3: Any, bucket: str, key: str) -> bytes | None:
    """The bytes already published at ``key`` (None if nothing is)."""
    try:
        return bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in {"NoSuchKey", "404"}:
            return None
        raise


# ---------------------------------------------------------------------------- CLI


def register(subcommands: Any) -> None:
    """Add ``kit publish``."""
    kit = subcommands.add_parser("kit", help="the consumer kit other teams deploy")
    verbs = kit.add_subparsers(dest="kit_command", required=True, metavar="VERB")
    publish = verbs.add_parser(
        "publish",
        help="upload consumers/kit/template.yaml as this runtime version's kit",
        parents=[connection_options()],
    )
    publish.add_argument("--template", type=Path, default=KIT_TEMPLATE, help=argparse.SUPPRESS)
    publish.set_defaults(run=run_publish)


def connection_for(args: argparse.Namespace) -> tuple[Connection, str]:
    """The connection and stack the options name; with none, a running ``fanout local up``'s.

    The local hub's endpoint gets its fake credentials: nothing configured for a real
    account is ever sent to it. ``NoHubError`` when nothing names a hub and none runs.
    """
    place = where(args)
    if place.local is not None and place.profile is None:
        from fanout.local.server import local_session  # noqa: PLC0415 - only for a local hub

        session = local_session(place.region)
        return Connection(
            endpoint_url=place.endpoint_url, region=place.region, session=session
        ), place.stack_name
    return Connection(
        endpoint_url=place.endpoint_url, region=place.region, profile=place.profile
    ), place.stack_name


def run_publish(args: argparse.Namespace) -> int:
    """Publish the kit; prints its ``Location`` URL. 0 published (or already), 1 refused, 2 no hub."""
    clients, stack_name = connection_for(args)
    try:
        bucket = artifacts_bucket(clients, stack_name)
        location = publish_kit(clients, bucket, template=args.template)
    except KitVersionExistsError as exc:
        return fail("fanout kit publish", exc, EXIT_FAILED)
    except KitPublishError as exc:
        return fail("fanout kit publish", exc, EXIT_USAGE)
    except (ClientError, BotoCoreError) as exc:
        return sdk_failure("fanout kit publish", exc)
    print(location)
    return 0
