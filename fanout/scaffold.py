"""``fanout consumer new NAME --filter 'type=order.*'``: a new consumer in one command.

Creates ``consumers/<name>/`` (a thin ``app.py`` and a plain ``logic.py``), a
contract test, and appends a consumer-kit block to ``template.yaml`` by text
insertion after the last existing kit block, so the rest of the file keeps its
formatting, comments and order byte for byte.
"""

from __future__ import annotations

import argparse
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Final

KIT_LOCATION: Final = "Location: consumers/kit/template.yaml"
# The kit's ConsumerName AllowedPattern.
NAME_PATTERN: Final = re.compile(r"^[a-z][a-z0-9-]{0,30}$")
FILTER_KEYS: Final = ("type", "entity", "operation", "table", "schemaversion")


class ScaffoldError(ValueError):
    """The request cannot be scaffolded (bad name, bad filter, consumer exists)."""


@dataclass(frozen=True, slots=True)
class NewConsumer:
    """What to create."""

    name: str
    filter_policy: dict[str, list[object]]

    @property
    def package(self) -> str:
        """The Python package name: consumers.<package>."""
        return self.name.replace("-", "_")

    @property
    def logical_id(self) -> str:
        """The template resource name, e.g. BillingConsumer."""
        return "".join(part.capitalize() for part in self.name.split("-")) + "Consumer"


def filter_policy(filters: list[str]) -> dict[str, list[object]]:
    """``type=order.*`` → ``{"type": [{"prefix": "order."}]}``; ``a,b`` values are alternatives."""
    policy: dict[str, list[object]] = {}
    for text in filters:
        key, sep, values = text.partition("=")
        key = key.strip()
        if not sep or key not in FILTER_KEYS or not values.strip():
            raise ScaffoldError(
                f"filter {text!r} must be KEY=VALUE[,VALUE] with KEY one of {', '.join(FILTER_KEYS)}"
            )
        for value in (v.strip() for v in values.split(",") if v.strip()):
            if value.endswith("*") and "*" not in value[:-1]:
                policy.setdefault(key, []).append({"prefix": value[:-1]})
            elif "*" in value:
                raise ScaffoldError(f"filter value {value!r}: only a trailing * is supported")
            else:
                policy.setdefault(key, []).append(value)
    return policy


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
    return "".join(lines[:end]) + block + "".join(lines[end:])


APP_PY: Final = '''"""Lambda entry point of the {name} consumer (handler ``consumers.{package}.app.handler``)."""

from __future__ import annotations

from consumers.{package}.logic import handle
from consumers.runtime import Envelope, Mode, consumer


# The mode sets what each message costs (docs/writing-a-consumer.md, "Choosing a mode"):
# SIDE_EFFECT claims and completes each event id (2 DynamoDB writes) and suits any logic.
# A read model or cache in your own table is Mode.STATE with apply_if_newer (1 write; the
# doc's "A state consumer's table" adds the table, its policy and the test); a write
# idempotent by itself (one object per event id) is Mode.NATURALLY_IDEMPOTENT (0).
@consumer(mode=Mode.SIDE_EFFECT)
def handler(event: Envelope) -> None:
    """Run the business logic once per event (duplicates are skipped by the runtime)."""
    handle(event)
'''

LOGIC_PY: Final = '''"""The {name} consumer's business logic: plain functions, no Lambda, no queue.

Raise ``consumers.runtime.PermanentError`` for an event that can never succeed
(it goes to this consumer's DLQ at once); any other exception is retried.

Snapshots: ``fanout backfill {name}`` sends every item already in the table as a
``<entity>.snapshot`` event (operation ``snapshot``): the item as it is, not a
change. The same item may also arrive as a live change, before or after its
snapshot, with another event id; the runtime runs each event id once, so it does
not join the two. Key a side effect that must happen once per item by
``effect_key`` (the item), never by ``event.id``: a live insert and a snapshot of
one order are then one charge, not two. See docs/writing-a-consumer.md.
"""

from __future__ import annotations

from typing import Final

import structlog

from consumers.runtime import Envelope

log = structlog.get_logger(__name__)

# The item exists: a change that made or changed it, or a backfill's snapshot of it.
ACTS_ON: Final = frozenset({{"created", "updated", "snapshot"}})


def effect_key(event: Envelope) -> str:
    """One key per item, shared by its live changes and its snapshots.

    Pass it as the idempotency key of a side effect that must happen once per item
    (a payment provider's, or a conditional write's).
    """
    return f"{{event.table}}:{{event.subject}}"


def handle(event: Envelope) -> None:
    """React to one event; an item that is gone (deleted, expired) needs nothing."""
    if event.operation not in ACTS_ON:
        return
    # Log ids and types, never item values: the log group holds no personal data.
    log.info("{package}_event", envelope_id=event.id, type=event.type)
    # Your side effect here, idempotent on effect_key(event).
'''

INIT_PY: Final = '"""The {name} consumer."""\n'

TEST_PY: Final = '''"""The {name} consumer reads the published envelope fixture and runs once per event."""

from __future__ import annotations

from unittest import mock

from consumer_builders import an_sqs_event, an_sqs_record, envelope_fixture, failed_ids
from support.builders import FakeContext

from consumers.{package} import app, logic
from schemas import parse_envelope


class TestContract:
    """The stored v1 envelope reaches the logic exactly once."""

    def test_the_fixture_is_handled_once(self, consumer_env):
        app.handler.reset()
        body = envelope_fixture("1")
        with mock.patch.object(app, "handle") as handle:
            first = app.handler(an_sqs_event(an_sqs_record(body)), FakeContext())
            again = app.handler(an_sqs_event(an_sqs_record(body)), FakeContext())
        app.handler.reset()

        assert failed_ids(first) == failed_ids(again) == []
        assert handle.call_count == 1


class TestSnapshots:
    """A backfill's snapshot of an item and its live change are one side effect, not two."""

    def test_a_snapshot_shares_the_live_events_effect_key(self):
        live = parse_envelope(envelope_fixture("1"))
        snapshot = live.model_copy(
            update={{
                "id": "6d0f3f8e-0000-5000-8000-000000000001",
                "type": f"{{live.entity}}.snapshot",
                "operation": "snapshot",
                "sequence": "0" * 40,
            }}
        )

        assert snapshot.id != live.id
        assert logic.effect_key(snapshot) == logic.effect_key(live)
        assert "snapshot" in logic.ACTS_ON
'''


def create(root: Path, new: NewConsumer) -> list[Path]:
    """Write the consumer's files and the template block under ``root``; returns what changed."""
    package_dir = root / "consumers" / new.package
    if package_dir.exists():
        raise ScaffoldError(f"{package_dir} already exists")
    template_path = root / "template.yaml"
    updated = insert_block(template_path.read_text(encoding="utf-8"), new)
    test_path = root / "tests" / "unit" / "consumers" / f"test_consumer_{new.package}.py"
    files = {
        package_dir / "__init__.py": INIT_PY,
        package_dir / "app.py": APP_PY,
        package_dir / "logic.py": LOGIC_PY,
        test_path: TEST_PY,
    }
    package_dir.mkdir(parents=True)
    for path, text in files.items():
        path.write_text(text.format(name=new.name, package=new.package), encoding="utf-8")
    template_path.write_text(updated, encoding="utf-8")
    return [*files, template_path]


def _run(args: argparse.Namespace) -> int:
    if not NAME_PATTERN.match(args.name):
        print(f"error: NAME must match {NAME_PATTERN.pattern} (the kit's ConsumerName rule)")
        return 2
    try:
        new = NewConsumer(args.name, filter_policy(args.filter or []))
        changed = create(Path(args.root), new)
    except ScaffoldError as error:
        print(f"error: {error}")
        return 2
    for path in changed:
        print(f"wrote {path}")
    return 0


def register(subcommands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``consumer new`` to the ``fanout`` command."""
    group = subcommands.add_parser("consumer", help="work with consumers")
    actions = group.add_subparsers(dest="consumer_command", required=True, metavar="ACTION")
    new = actions.add_parser("new", help="scaffold a consumer: folder, test, template block")
    new.add_argument("name", help="consumer name, e.g. billing (lower case, digits, '-')")
    new.add_argument(
        "--filter",
        action="append",
        metavar="KEY=VALUE",
        help="subscription filter on a message attribute, e.g. 'type=order.*' (repeatable)",
    )
    new.add_argument("--root", default=".", help="repository root (default: current directory)")
    new.set_defaults(run=_run)
