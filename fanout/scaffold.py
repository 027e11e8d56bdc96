"""``fanout consumer new NAME --filter 'type=order.*'``: a new consumer in one command.

Creates ``consumers/<name>/`` (a thin ``app.py`` and a plain ``logic.py``, written
for the ``--mode`` asked), a test, and appends a consumer-kit block to
``template.yaml`` by text insertion after the last existing kit block, so the rest
of the file keeps its formatting, comments and order byte for byte.

The test runs the logic on an envelope made by the router's own normaliser from a
DynamoDB stream record that the consumer's filter admits: ``example_change`` picks
that record and checks it with SNS's matching rules (``fanout.ops.filtering``).
"""

from __future__ import annotations

import argparse
import json
import keyword
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from fanout import scaffold_code as code
from fanout.filter_syntax import FILTER_KEYS, FilterPolicyDict, FilterSyntaxError, parse_filters
from fanout.options import UsageError

KIT_LOCATION: Final = "Location: consumers/kit/template.yaml"
# The kit's ConsumerName AllowedPattern.
NAME_PATTERN: Final = re.compile(r"^[a-z][a-z0-9-]{0,30}$")
RESERVED: Final = frozenset({"router"})
"""Names the hub's own commands use: ``fanout dlq router`` is the router's DLQ."""
DEFAULT_MODE: Final = "side-effect"


class ScaffoldError(ValueError):
    """The request cannot be scaffolded (bad name, bad filter, consumer exists)."""


@dataclass(frozen=True, slots=True)
class NewConsumer:
    """What to create."""

    name: str
    filter_policy: FilterPolicyDict
    mode: str = DEFAULT_MODE
    owner: str = ""
    """The team to warn before a change to what it reads (the kit's Owner: a queue tag)."""

    @property
    def package(self) -> str:
        """The Python package name: consumers.<package>."""
        return self.name.replace("-", "_")

    @property
    def logical_id(self) -> str:
        """The template resource name, e.g. BillingConsumer."""
        return "".join(part.capitalize() for part in self.name.split("-")) + "Consumer"

    @property
    def table_variable(self) -> str:
        """A state consumer's table variable, e.g. BILLING_TABLE."""
        return f"{self.package.upper()}_TABLE"


def filter_policy(filters: list[str]) -> FilterPolicyDict:
    """The filters' SNS filter policy (``fanout.filter_syntax``); ``ScaffoldError`` if malformed."""
    try:
        return parse_filters(filters)
    except FilterSyntaxError as exc:
        raise ScaffoldError(str(exc)) from None


def _consumer_names(template: str) -> set[str]:
    return {m.lower() for m in re.findall(r"^\s+ConsumerName:\s*(\S+)\s*$", template, re.MULTILINE)}


def _resource_ids(template: str) -> set[str]:
    return {m.lower() for m in re.findall(r"^  ([A-Za-z0-9]+):\s*$", template, re.MULTILINE)}


def check_name(root: Path, new: NewConsumer) -> None:
    """``ScaffoldError`` naming why ``new.name`` is taken; nothing if it is free.

    Taken: a reserved name, a consumer of template.yaml, a folder under consumers/
    (the runtime and the kit are folders too), a test file, a Python keyword (the
    package must import), or a template resource named like the block's logical id.
    Compared case-insensitively, as two names differing in case only confuse readers.
    """
    name = new.name.lower()
    template = (root / "template.yaml").read_text(encoding="utf-8")
    consumers = root / "consumers"
    folders = (
        {p.name.lower() for p in consumers.iterdir() if p.is_dir()} if consumers.is_dir() else set()
    )
    test = root / "tests" / "unit" / "consumers" / f"test_consumer_{new.package}.py"
    if name in RESERVED:
        reason = "is reserved (the router's own name in fanout commands)"
    elif name in _consumer_names(template):
        reason = "is a consumer in template.yaml already"
    elif new.package.lower() in folders or name in folders:
        reason = f"is taken: consumers/{new.package} exists"
    elif test.exists():
        reason = f"is taken: {test.relative_to(root)} exists"
    elif keyword.iskeyword(new.package):
        reason = "is a Python keyword, which cannot name a package"
    elif new.logical_id.lower() in _resource_ids(template):
        reason = f"would make {new.logical_id}, a resource template.yaml has already"
    else:
        return
    raise ScaffoldError(f"consumer name {new.name!r} {reason}")


def template_block(new: NewConsumer) -> str:
    """The consumer-kit block, in the shape of the template's existing consumer blocks."""
    lines = [
        f"  {new.logical_id}:",
        "    Type: AWS::Serverless::Application",
        "    # Each kit keeps its own DLQ with DeletionPolicy Retain.",
        "    DeletionPolicy: Delete",
        "    UpdateReplacePolicy: Delete",
        "    Properties:",
        "      Location: consumers/kit/template.yaml",
        "      Parameters:",
        "        TopicArn: !Ref Topic",
        "        RuntimeLayerArn: !Ref ConsumerRuntimeLayer",
        "        CodeLayerArn: !Ref ConsumersCodeLayer",
        f"        ConsumerName: {new.name}",
        f"        Handler: consumers.{new.package}.app.handler",
    ]
    if new.owner:
        lines.append(f"        Owner: {json.dumps(new.owner)}")
    if new.filter_policy:
        lines.append(f"        FilterPolicy: '{json.dumps(new.filter_policy)}'")
    lines += [
        "        IdempotencyTableName: !Ref IdempotencyTable",
        "        PayloadBucketName: !Ref PayloadBucket",
        "        FifoMode: !Ref FifoMode",
        "        Runtime: !Ref Runtime",
        "        Architecture: !Ref Architecture",
        "        LogLevel: !Ref LogLevel",
        "        AlarmTopicArn: !If [CreateAlarmTopic, !Ref AlarmTopic, !Ref AlarmTopicArn]",
        "        RunbookUrl: !Ref RunbookUrl",
        "        LocalEndpointUrl: !Ref LocalEndpointUrl",
    ]
    return "\n".join(lines) + "\n"


def insert_block(template: str, new: NewConsumer) -> str:
    """``template`` with the block inserted after the last consumer-kit resource."""
    if re.search(rf"^  {re.escape(new.logical_id)}:\s*$", template, re.MULTILINE):
        raise ScaffoldError(f"template.yaml already has a resource named {new.logical_id}")
    lines = template.splitlines(keepends=True)
    kit_lines = [i for i, line in enumerate(lines) if line.strip() == KIT_LOCATION]
    if not kit_lines:
        raise ScaffoldError("template.yaml has no consumer-kit block to place the new one after")
    # The block containing the last kit Location ends before the next line indented
    # two spaces or less (the next resource, a section comment or a top-level key).
    end = kit_lines[-1] + 1
    while end < len(lines):
        line = lines[end]
        if line.strip() and len(line) - len(line.lstrip(" ")) <= 2:  # noqa: PLR2004 - YAML resource indent
            break
        end += 1
    while end > 0 and not lines[end - 1].strip():
        end -= 1  # keep the blank lines that separate it from what follows
    block = "\n" + template_block(new)
    return grant_operator("".join(lines[:end]) + block + "".join(lines[end:]), new)


# The operator policy names each consumer's queues by its nested stack's name
# ("<stack>-<LogicalId>-*"): a consumer added to the template needs its own line, or
# `fanout status` and the DLQ commands are refused on its queues.
OPERATOR_QUEUES: Final = re.compile(
    r'^(?P<head>\s*- !Sub "arn:\$\{AWS::Partition\}:sqs:\$\{AWS::Region\}:'
    r'\$\{AWS::AccountId\}:\$\{AWS::StackName\}-)(?P<id>[A-Za-z0-9]+)(?P<tail>-\*"\s*)$'
)


def grant_operator(template: str, new: NewConsumer) -> str:
    """``template`` with the new consumer's queues in the operator policy, after the others'."""
    lines = template.splitlines(keepends=True)
    found = [(i, m) for i, line in enumerate(lines) if (m := OPERATOR_QUEUES.match(line))]
    if not found:
        return template
    index, match = found[-1]
    line = f"{match['head']}{new.logical_id}{match['tail']}"
    return "".join([*lines[: index + 1], line, *lines[index + 1 :]])


OPERATIONS: Final = ("created", "updated", "snapshot", "deleted", "expired")
STREAM_EVENTS: Final = {
    "created": "INSERT",
    "updated": "MODIFY",
    "deleted": "REMOVE",
    "expired": "REMOVE",
}
IMAGES: Final = {"INSERT": "new=NEW", "MODIFY": "new=NEW, old=OLD", "REMOVE": "old=NEW"}
SCHEMA_VERSION: Final = "1"


@dataclass(frozen=True, slots=True)
class ExampleChange:
    """The change the generated test feeds the logic: a stream record, or a snapshot."""

    operation: str = "created"
    entity: str = "order"
    table: str = "Orders"
    changed: str | None = None

    @property
    def keys(self) -> dict[str, str]:
        """The item's key: the router reads the entity from its ``ENTITY#`` prefix."""
        return {"pk": f"{self.entity.upper()}#42", "sk": "META"}

    @property
    def new(self) -> dict[str, object]:
        """The item after the change."""
        return {**self.keys, "status": "PLACED", "total": 10, **self._changed("after")}

    @property
    def old(self) -> dict[str, object] | None:
        """The item before the change: an update's only."""
        if self.operation != "updated":
            return None
        return {**self.keys, "status": "NEW", "total": 10, **self._changed("before")}

    def _changed(self, value: str) -> dict[str, object]:
        return {self.changed: value} if self.changed and self.changed not in self.keys else {}

    def attributes(self) -> dict[str, dict[str, str]]:
        """The SNS message attributes the router publishes with it (``router.normalise``)."""
        attributes = {
            "type": f"{self.entity}.{self.operation}",
            "entity": self.entity,
            "operation": self.operation,
            "table": self.table,
            "schemaversion": SCHEMA_VERSION,
        }
        out = {k: {"DataType": "String", "StringValue": v} for k, v in attributes.items()}
        if self.operation == "updated":
            changed = sorted(
                name for name in self.new if self.new[name] != (self.old or {}).get(name)
            )
            out["changed"] = {"DataType": "String.Array", "StringValue": json.dumps(changed)}
        return out

    def code(self) -> str:
        """The generated test's expression for the router's publication of this change."""
        if self.operation == "snapshot":
            return 'snapshot_outbound(ddb(NEW), sorted(KEYS), TABLE_ARN, EntityRules(), "run", 0)'
        event_name = STREAM_EVENTS[self.operation]
        ttl = ", ttl=True" if self.operation == "expired" else ""
        return (
            f'to_outbound(\n        a_stream_record("{event_name}", keys=KEYS, '
            f"{IMAGES[event_name]}, stream_arn=STREAM_ARN{ttl}),\n        EntityRules(),\n    )"
        )


def _literal(value: object) -> str:
    """Python source of a JSON-like value (``json.dumps`` spells str, int and dict alike)."""
    return "None" if value is None else json.dumps(value)


def _values(policy: FilterPolicyDict, key: str) -> list[str]:
    """The texts a key's conditions name: exact values and prefixes (a prefix matches itself)."""
    out: list[str] = []
    for condition in policy.get(key, []):
        if isinstance(condition, str):
            out.append(condition)
        elif isinstance(condition, dict) and isinstance(condition.get("prefix"), str):
            out.append(condition["prefix"])
    return out


def _candidates(policy: FilterPolicyDict) -> Iterator[ExampleChange]:
    entities = _values(policy, "entity")
    operations = [
        op for text in _values(policy, "operation") for op in OPERATIONS if op.startswith(text)
    ]
    for text in _values(policy, "type"):
        entity, _, operation = text.partition(".")
        entities.append(entity)
        operations += [op for op in OPERATIONS if operation and op.startswith(operation)]
    tables = _values(policy, "table") or ["Orders"]
    changed: list[str | None] = [*_values(policy, "changed")] or [None]
    for entity in [e for e in entities if re.fullmatch(r"[a-z][a-z0-9_]*", e)] or ["order"]:
        for operation in [*operations, *OPERATIONS]:
            for table in tables:
                for name in changed:
                    yield ExampleChange(operation, entity, table or "Orders", name)


def example_change(policy: FilterPolicyDict) -> ExampleChange | None:
    """A change the policy admits, as SNS matches (``fanout.ops.filtering``); None if none found."""
    from fanout.ops.filtering import FilterPolicy  # noqa: PLC0415 - moto's matcher is heavy

    matcher = FilterPolicy(policy)
    for change in _candidates(policy):
        if matcher.matches(change.attributes(), "{}"):
            return change
    return None


def files(root: Path, new: NewConsumer, change: ExampleChange) -> dict[Path, str]:
    """Each file to write and its text."""
    package_dir = root / "consumers" / new.package
    test_path = root / "tests" / "unit" / "consumers" / f"test_consumer_{new.package}.py"
    names: dict[str, object] = {
        "name": new.name,
        "package": new.package,
        "logical_id": new.logical_id,
        "table_variable": new.table_variable,
        "mode_comment": code.MODE_COMMENTS[new.mode],
        "mode_member": new.mode.upper().replace("-", "_"),
        "third_party": code.THIRD_PARTY[new.mode],
        "schemas_names": code.SCHEMAS_NAMES[new.mode],
        "table": change.table,
        "keys": _literal(change.keys),
        "new": _literal(change.new),
        "old": _literal(change.old),
        "example_code": change.code(),
    }
    logic_name, runtime_import = code.RUNTIME_IMPORTS["state" if new.mode == "state" else "effect"]
    imports = [f"from consumers.{new.package}.logic import {logic_name}", runtime_import]
    names["consumer_imports"] = "\n".join(sorted(imports, key=lambda line: line.split()[1]))
    if new.mode == "state":
        app, logic, test = code.APP_STATE_PY, code.LOGIC_STATE_PY, code.TEST_STATE_PY
    else:
        app, logic, test = code.APP_EFFECT_PY, code.LOGIC_EFFECT_PY, code.TEST_EFFECT_PY
        key_doc, key_expression = code.KEY_DOCS[new.mode]
        per_item = new.mode == "side-effect"
        names |= {
            "key_doc": key_doc,
            "key_expression": key_expression,
            "expected_key": 'f"{event.table}:{event.subject}"' if per_item else "event.id",
            "expected_snapshot_key": 'f"{event.table}:{event.subject}"' if per_item else "event.id",
            "handler_assertion": code.HANDLER_ASSERTIONS[new.mode],
        }
    return {
        package_dir / "__init__.py": code.INIT_PY.format(**names),
        package_dir / "app.py": app.format(**names),
        package_dir / "logic.py": logic.format(**names),
        test_path: test.format(**names),
    }


def create(root: Path, new: NewConsumer) -> list[Path]:
    """Write the consumer's files and the template block under ``root``; returns what changed.

    Raises ``ScaffoldError`` (nothing written) when the name is taken or no change
    the filter admits can be found for the test.
    """
    check_name(root, new)
    change = example_change(new.filter_policy)
    if change is None:
        raise ScaffoldError(
            f"no event the router publishes passes these filters: {json.dumps(new.filter_policy)}"
        )
    template_path = root / "template.yaml"
    updated = insert_block(template_path.read_text(encoding="utf-8"), new)
    written = files(root, new, change)
    (root / "consumers" / new.package).mkdir(parents=True)
    for path, text in written.items():
        path.write_text(text, encoding="utf-8")
    template_path.write_text(updated, encoding="utf-8")
    return [*written, template_path]


NEXT_STEPS: Final = {
    "state": 'next: add its table and ConsumerConfig {{"{variable}": ...}} to its block '
    '(docs/writing-a-consumer.md, "A state consumer\'s table"), then run its test',
}


def project_root(root: Path) -> Path:
    """``root`` if it holds a fanout-hub project (its ``template.yaml``); ``UsageError`` if not."""
    if not (root / "template.yaml").is_file():
        raise UsageError(
            f"not a fanout-hub project: no template.yaml in {root.resolve()} (use --root)"
        )
    return root


def _run(args: argparse.Namespace) -> int:
    # Usage errors follow the one convention (fanout.options): one line on stderr, exit 2.
    if not NAME_PATTERN.match(args.name):
        raise UsageError(
            f"consumer name {args.name!r} must match {NAME_PATTERN.pattern}"
            " (the kit's ConsumerName rule: lower case, digits, '-')"
        )
    try:
        new = NewConsumer(args.name, filter_policy(args.filter or []), args.mode, args.owner or "")
        changed = create(project_root(Path(args.root)), new)
    except ScaffoldError as error:
        raise UsageError(str(error)) from None
    for path in changed:
        print(f"wrote {path}")
    if new.mode in NEXT_STEPS:
        print(NEXT_STEPS[new.mode].format(variable=new.table_variable))
    return 0


# The kit's Owner AllowedPattern and MaxLength (a tag value's ASCII characters).
OWNER_PATTERN = re.compile(r"[A-Za-z0-9 _.:/=+@-]{1,256}")


def _owner(text: str) -> str:
    if not OWNER_PATTERN.fullmatch(text):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a tag value: up to 256 letters, digits, spaces and _ . : / = + - @"
        )
    return text


def register(subcommands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``consumer new`` to the ``fanout`` command."""
    group = subcommands.add_parser("consumer", help="work with consumers")
    actions = group.add_subparsers(dest="consumer_command", required=True, metavar="ACTION")
    new = actions.add_parser("new", help="scaffold a consumer: folder, test, template block")
    new.add_argument("name", help="consumer name, e.g. billing (lower case, digits, '-')")
    new.add_argument(
        "--filter",
        action="append",
        metavar="KEY=VALUE[,VALUE]",
        help="subscription filter on a message attribute the router publishes "
        f"({', '.join(FILTER_KEYS)}), e.g. 'type=order.*', 'type=prefix:order.', "
        "'changed=status'; values of one filter are alternatives; repeatable, all must match",
    )
    new.add_argument(
        "--mode",
        choices=code.MODES,
        default=DEFAULT_MODE,
        help="the runtime's Mode (docs/writing-a-consumer.md, 'Choosing a mode'): "
        "state (a read model, 1 write a message), side-effect (each event once, 2 writes; "
        "the default), naturally-idempotent (an effect idempotent by itself, 0 writes)",
    )
    new.add_argument(
        "--owner",
        type=_owner,
        metavar="TEAM",
        help="the team that owns it, e.g. billing-team: the queue's fanout:owner tag, which"
        " `fanout consumers` and `fanout schema check` name as the one to warn",
    )
    new.add_argument(
        "--root",
        default=".",
        metavar="DIR",
        help="the fanout-hub project to add it to, holding template.yaml (default: the current"
        " directory)",
    )
    new.set_defaults(run=_run)
