"""``fanout schema check`` and ``fanout consumers``.

``fanout schema check [--against REF] [--mode backward|forward|full] [--transitive]``
compares the entity contracts of the work tree with those at a git ref (the latest
release tag before HEAD's own by default: ``fanout.schema.sources.latest_tag``) and exits 1 on a breaking change that is not made as a new
version with its up step (or on a model whose export is stale), 0 when every change is compatible or allowed, 2 on a usage
error (not a git repository, an unknown ref, no tag and no ``--against``). For each entity
with a breaking change it lists the consumers whose filter policies admit that entity.

``fanout consumers [--type T] [--entity E] [--operation O]`` lists every consumer whose
filter policy admits those events, with its owner: the template's consumers, and the
topic's live subscriptions when a hub is reachable (a running local hub, or
``--stack-name`` / ``--endpoint-url`` / ``--profile``).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from fanout.audience import (
    OPERATIONS,
    Consumer,
    Question,
    affected,
    merged,
    rows,
    template_consumers,
    topic_consumers,
)
from fanout.ops.output import Output
from fanout.options import Renamed, UsageError, connection_options
from fanout.schema.check import Report, compare
from fanout.schema.compat import Mode
from fanout.schema.sources import (
    SourceError,
    at_ref,
    contracts_in_work_tree,
    in_work_tree,
    latest_tag,
    repository_root,
    stale_exports,
    steps_of,
)


class HubUnreadableError(RuntimeError):
    """The hub the options name cannot be read (a usage error: the options are wrong)."""


_COLUMNS = ("consumer", "owner", "admits", "why", "source")


def register(subcommands: Any) -> None:
    """Add ``schema check`` and ``consumers``."""
    schema = subcommands.add_parser("schema", help="item data contracts")
    verbs = schema.add_subparsers(dest="schema_command", required=True, metavar="VERB")
    check = verbs.add_parser(
        "check",
        parents=[connection_options(json=True)],
        help="fail on a breaking change to an entity contract since a git ref",
        description=(
            "Compare the work tree's entity contracts (schemas/json/entities, and the up/down"
            " steps in schemas/entities) with those at a git ref. Exit 1 on a breaking change"
            " not made as a new version with its up step, 0 otherwise, 2 on a usage error."
        ),
    )
    check.add_argument(
        "--against",
        metavar="REF",
        help="git ref to compare with (default: the latest tag reachable from HEAD that is not"
        " HEAD's own, unless the contracts have uncommitted changes)",
    )
    check.add_argument(
        "--mode",
        choices=[m.value for m in Mode],
        default=Mode.FULL.value,
        help="backward: new readers read old items; forward: old readers read new items;"
        " full: both (default)",
    )
    check.add_argument(
        "--transitive", action="store_true", help="check a new version against every earlier one"
    )
    check.add_argument(
        "--root",
        default=".",
        metavar="DIR",
        help="the repository (default: the one holding the current directory)",
    )
    # The old spelling, as `tail --stack` is kept: `--root` is what `consumer new` says too.
    check.add_argument("--repo", dest="root", action=Renamed, new="--root", help=argparse.SUPPRESS)
    _consumer_sources(check)
    check.set_defaults(run=run_check)

    consumers = subcommands.add_parser(
        "consumers",
        parents=[connection_options(json=True)],
        help="the consumers whose filter policy admits some events, and their owners",
    )
    consumers.add_argument("--type", dest="event_type", help="envelope type, e.g. user.updated")
    consumers.add_argument("--entity", help="entity, e.g. user")
    consumers.add_argument(
        "--operation", choices=OPERATIONS, help="the change: " + ", ".join(OPERATIONS)
    )
    _consumer_sources(consumers)
    consumers.set_defaults(run=run_consumers)


def _consumer_sources(parser: argparse.ArgumentParser) -> None:
    """``--template``; the hub's live subscriptions come from the common connection options."""
    parser.add_argument(
        "--template", help="the hub template (default: template.yaml at the repository's top)"
    )


# ---------------------------------------------------------------------------- consumers


def _template_path(args: argparse.Namespace, root: Path | None) -> Path:
    if args.template:
        return Path(args.template)
    return (root or Path()) / "template.yaml"


def _live_consumers(
    args: argparse.Namespace, output: Output, *, local_hub: bool
) -> list[Consumer] | None:
    """The topic's subscriptions, when a hub is asked for (or, with ``local_hub``, running)."""
    from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415 - live only

    from fanout.ops.cli import connect  # noqa: PLC0415 - live only
    from fanout.ops.resolve import ResolveError  # noqa: PLC0415 - same
    from fanout.options import DEFAULT_STACK_NAME  # noqa: PLC0415 - same

    asked = bool(args.stack_name or args.endpoint_url or args.profile)
    if not asked:
        if not local_hub:
            return None
        from fanout.local.hub import load_state  # noqa: PLC0415 - only to see if one runs

        if load_state() is None:
            return None
    hub_args = argparse.Namespace(
        stack_name=args.stack_name or DEFAULT_STACK_NAME,
        endpoint_url=args.endpoint_url,
        profile=args.profile,
        region=args.region,
        topic_arn=None,
        table=None,
        stream_arn=None,
        router_dlq_url=None,
        failure_destination=None,
        payload_bucket=None,
    )
    try:
        connection, hub = connect(hub_args)
        topic = hub.need("topic_arn", "--stack-name of a hub")
        names = {c.queue_arn: c.name for c in hub.consumers}
        return topic_consumers(connection.client("sns"), connection.client("sqs"), topic, names)
    except (ResolveError, ClientError, BotoCoreError) as exc:
        if asked:
            raise HubUnreadableError(f"the hub's subscriptions could not be read: {exc}") from exc
        output.note(
            f"the running local hub's subscriptions could not be read ({exc}); template only"
        )
        return None


def _read_template(path: Path) -> list[Consumer]:
    """The template's consumers; ``UsageError`` naming it when it is not a readable template."""
    import yaml  # noqa: PLC0415 - YAML only when a template is read

    from fanout.deploy.exceptions import StackError  # noqa: PLC0415 - same

    try:
        return template_consumers(path)
    except (OSError, UnicodeDecodeError, yaml.YAMLError, StackError) as exc:
        raise UsageError(f"cannot read the template {path}: {exc}") from None


def find_consumers(
    args: argparse.Namespace, output: Output, root: Path | None, *, local_hub: bool = True
) -> tuple[list[Consumer], list[str]]:
    """The consumers to consider, and which sources they came from.

    ``local_hub``: also ask a running ``fanout local up`` when no hub is named. The schema
    check does not: in CI its answer must not depend on what else runs on the machine.
    """
    path = _template_path(args, root)
    template = _read_template(path) if path.is_file() else []
    sources = [str(path)] if path.is_file() else []
    live = _live_consumers(args, output, local_hub=local_hub)
    if live is None:
        return template, sources
    return merged(template, live), [*sources, "the topic's subscriptions"]


def run_consumers(args: argparse.Namespace, out: Output | None = None) -> int:
    """``fanout consumers``: the consumers admitting the events asked about."""
    output = out or Output(json_mode=args.json)
    question = Question(type=args.event_type, entity=args.entity, operation=args.operation)
    if (refusal := question.refusal()) is not None:
        raise UsageError(refusal)
    try:
        root: Path | None = repository_root(Path())
    except SourceError:
        root = None
    if args.template and not Path(args.template).is_file():
        raise UsageError(f"no template at {args.template}")
    try:
        consumers, sources = find_consumers(args, output, root)
    except HubUnreadableError as exc:
        raise UsageError(str(exc)) from None
    found = rows(affected(consumers, question))
    output.table(f"consumers admitting {question.describe()}", _COLUMNS, found)
    output.document({"question": question.describe(), "sources": sources, "consumers": found})
    if not sources:
        output.note("no template.yaml here and no hub reachable: nothing to list")
    return 0


# ---------------------------------------------------------------------------- schema check


def run_check(args: argparse.Namespace, out: Output | None = None) -> int:
    """``fanout schema check``: exit 1 on a breaking change that is not allowed."""
    output = out or Output(json_mode=args.json)
    try:
        root = repository_root(Path(args.root))
        against = args.against or latest_tag(root)
        if against is None:
            raise UsageError(
                "no release tag to compare with (none reachable from HEAD but HEAD's own);"
                " pass --against REF"
            )
        tree, contracts = in_work_tree(root), contracts_in_work_tree(root)
        report = compare(
            at_ref(root, against),
            tree,
            steps_of(contracts),
            Mode(args.mode),
            transitive=args.transitive,
        )
        report.stale.extend(stale_exports(contracts, tree))
        _print(report, args, output, root)
    except (SourceError, HubUnreadableError) as exc:
        raise UsageError(str(exc)) from None
    return 1 if report.fails else 0


def _print(report: Report, args: argparse.Namespace, output: Output, root: Path) -> None:
    scope = f"mode {report.mode}{', transitive' if report.transitive else ''}"
    entities = report.entities(breaking_only=False)
    consumers = find_consumers(args, output, root, local_hub=False)[0] if entities else []
    audience = {entity: rows(affected(consumers, Question(entity=entity))) for entity in entities}
    output.document(
        {
            "against": report.against,
            "mode": str(report.mode),
            "transitive": report.transitive,
            "breaking": [c.as_dict() for c in report.breaking],
            "allowed": [c.as_dict() for c in report.allowed],
            "notes": report.notes,
            "stale_exports": report.stale,
            "consumers": audience,
        }
    )
    if output.json_mode:
        return
    output.note(f"entity contracts: work tree against {report.against} ({scope})")
    for note in report.notes:
        output.note(f"note: {note}")
    for entity in entities:
        for change in (c for c in report.changes if c.entity == entity):
            output.note(("BREAKING " if not change.allowed else "") + change.line())
        listed = audience[entity]
        output.note(f"  consumers of entity={entity} (warn their owners):")
        for row in listed:
            output.note(
                f"    {row['consumer']} (owner {row['owner']}): {row['admits']}"
                + (f", {row['why']}" if row["why"] else "")
                + f" [{row['source']}]"
            )
        if not listed:
            output.note("    none found")
    for line in report.stale:
        output.note(f"STALE {line}")
    if report.breaking:
        output.note(
            f"{len(report.breaking)} breaking change(s) in"
            f" {', '.join(report.entities(breaking_only=True))}:"
            " see docs/changing-an-item-shape.md"
        )
    elif report.stale:
        output.note("the exports are not what the models say: run make schemas, then check again")
    else:
        output.note("compatible: no breaking change that is not made as a new version")
