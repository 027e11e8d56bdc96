"""The files ``fanout consumer new`` writes: a consumer's app, logic and test, per mode.

Each text is ``str.format``-ed with the names of ``fanout.scaffold.NewConsumer``
(``{{`` and ``}}`` are literal braces). The code passes ``mypy --strict`` and the
project's ruff rules as written; ``tests/unit/consumers/test_consumer_scaffold.py``
proves it for every mode.
"""

from __future__ import annotations

from typing import Final

MODES: Final = ("state", "side-effect", "naturally-idempotent")
"""The ``--mode`` choices: ``consumers.runtime.core.Mode``'s values, as words."""

INIT_PY: Final = '"""The {name} consumer."""\n'

# ---------------------------------------------------------------------------- app.py

_APP_HEAD: Final = '''"""Lambda entry point of the {name} consumer (handler ``consumers.{package}.app.handler``)."""

from __future__ import annotations

'''

APP_EFFECT_PY: Final = (
    _APP_HEAD
    + '''{consumer_imports}


# {mode_comment}
# The modes and what each costs: docs/writing-a-consumer.md, "Choosing a mode".
@consumer(mode=Mode.{mode_member})
def handler(event: Envelope) -> None:
    """Run the business logic on one event."""
    handle(event)
'''
)

APP_STATE_PY: Final = (
    _APP_HEAD
    + '''from dataclasses import dataclass
from functools import cache

{consumer_imports}
from hubcommon.settings import variable


@dataclass(frozen=True, slots=True)
class Settings:
    """The {name} consumer's own environment (set it in its block's ConsumerConfig)."""

    table: str = variable("{table_variable}")


@cache
def settings() -> Settings:
    """Read once per container; a missing variable fails at cold start, naming it."""
    return load_settings(Settings)


# {mode_comment}
# The modes and what each costs: docs/writing-a-consumer.md, "Choosing a mode".
@consumer(mode=Mode.STATE, setup=settings)
def handler(event: Envelope) -> bool:
    """Store the item's newest state; False when the table already holds it or a newer one."""
    return apply_if_newer(aws_clients().dynamodb, settings().table, event, row_of(event))
'''
)

RUNTIME_IMPORTS: Final = {
    "effect": ("handle", "from consumers.runtime import Envelope, Mode, consumer"),
    "state": (
        "row_of",
        (
            "from consumers.runtime import Envelope, Mode, apply_if_newer, aws_clients, "
            "consumer, load_settings"
        ),
    ),
}
"""app.py's two imports from consumers: the logic's and the runtime's (sorted by module)."""

MODE_COMMENTS: Final = {
    "side-effect": "Mode.SIDE_EFFECT: the runtime runs each event id once (2 DynamoDB writes "
    "a message);\n# key an effect that must happen once per item by logic.effect_key.",
    "naturally-idempotent": "Mode.NATURALLY_IDEMPOTENT: the runtime writes nothing, so a "
    "redelivery runs the\n# logic again: the effect itself must be idempotent on its key "
    "(the envelope id).",
    "state": "Mode.STATE: one conditional write per message (apply_if_newer) keeps the newest "
    "state;\n# a redelivery or an older change writes nothing.",
}

# ---------------------------------------------------------------------------- logic.py

_LOGIC_DOC: Final = '''"""The {name} consumer's business logic: plain functions, no Lambda, no queue.

Raise ``consumers.runtime.PermanentError`` for an event that can never succeed
(it goes to this consumer's DLQ at once); any other exception is retried.

Snapshots: ``fanout backfill {name}`` sends every item already in the table as a
``<entity>.snapshot`` event (operation ``snapshot``): the item as it is, not a
change. The same item may also arrive as a live change, before or after its
snapshot, with another event id. See docs/writing-a-consumer.md.
"""

from __future__ import annotations

'''

_ITEM_OF: Final = '''# The item exists: a change that made or changed it, or a backfill's snapshot of it.
ACTS_ON: Final = frozenset({{"created", "updated", "snapshot"}})


def item_of(event: Envelope) -> Item | None:
    """The item as it now is; None when it is gone (deleted, expired) or the event has no image."""
    if event.operation not in ACTS_ON or event.data is None:
        return None
    return event.data.new
'''

LOGIC_EFFECT_PY: Final = (
    _LOGIC_DOC
    + """from dataclasses import dataclass
from typing import Final

import structlog

from consumers.runtime import Envelope
from schemas import Item

log = structlog.get_logger(__name__)

"""
    + _ITEM_OF
    + '''

def effect_key(event: Envelope) -> str:
    """{key_doc}"""
    return {key_expression}


@dataclass(frozen=True, slots=True)
class Effect:
    """What to do for one event: the item, and the idempotency key to do it under."""

    key: str
    item: Item


def effect_of(event: Envelope) -> Effect | None:
    """The effect ``event`` asks for; None when there is nothing to do."""
    item = item_of(event)
    return None if item is None else Effect(key=effect_key(event), item=item)


def handle(event: Envelope) -> None:
    """React to one event."""
    effect = effect_of(event)
    if effect is None:
        return
    # Log ids and types, never item values: the log group holds no personal data.
    log.info("{package}_effect", envelope_id=event.id, type=event.type, effect_key=effect.key)
    # Your side effect here, idempotent on effect.key (e.g. a provider's idempotency key).
'''
)

KEY_DOCS: Final = {
    "side-effect": (
        "One key per item for its changes and snapshots: one charge per order.",
        'f"{event.table}:{event.subject}"',
    ),
    "naturally-idempotent": (
        "The envelope id: a second write of the same object changes nothing.",
        "event.id",
    ),
}

LOGIC_STATE_PY: Final = (
    _LOGIC_DOC
    + """from typing import TYPE_CHECKING, Final

from consumers.runtime import Envelope
from schemas import Item
from schemas.codec import dumps

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef

"""
    + _ITEM_OF
    + '''

def row_of(event: Envelope) -> dict[str, AttributeValueTypeDef]:
    """The row this consumer's table holds for the item after ``event``.

    Keyed by the source table and the item's key; a removed item leaves a tombstone
    (a late update must find a newer sequence, docs/writing-a-consumer.md).
    """
    row: dict[str, AttributeValueTypeDef] = {{
        "pk": {{"S": f"{{event.table}}:{{event.subject}}"}},
        "entity": {{"S": event.entity}},
    }}
    item = item_of(event)
    if item is None:
        row["deleted"] = {{"BOOL": True}}
    else:
        row["item"] = {{"S": dumps(item)}}
    return row
'''
)

# ---------------------------------------------------------------------------- the test

_TEST_HEAD: Final = '''"""The {name} consumer: its filter admits the example event, and its logic acts on it."""

from __future__ import annotations

from pathlib import Path

{third_party}

from consumers.{package} import app, logic
from fanout.deploy.template import load_template
from fanout.ops.backfill import snapshot_outbound
from fanout.ops.filtering import FilterPolicy
from router.normalise import EntityRules, Outbound, to_outbound
from schemas import {schemas_names}

ROOT = Path(__file__).resolve().parents[3]
TABLE_ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/{table}"
STREAM_ARN = f"{{TABLE_ARN}}/stream/2026-11-27T00:00:00.000"
# The example item: edit it (and example() below) to the changes your logic handles.
KEYS = {keys}
NEW = {new}
OLD = {old}


def filter_policy() -> FilterPolicy:
    """The filter policy of the {logical_id} block in template.yaml (none: every event)."""
    block = load_template(ROOT / "template.yaml")["Resources"]["{logical_id}"]
    return FilterPolicy.of_text(block["Properties"]["Parameters"].get("FilterPolicy", ""))


def example() -> Outbound:
    """What the router publishes for the example change, made by the router's own code."""
    return {example_code}


def removal() -> Envelope:
    """The example item, deleted."""
    record = a_stream_record("REMOVE", keys=KEYS, old=NEW, stream_arn=STREAM_ARN)
    return parse_envelope(to_outbound(record, EntityRules()).body)


def snapshot() -> Envelope:
    """A backfill's snapshot of the example item."""
    outbound = snapshot_outbound(ddb(NEW), sorted(KEYS), TABLE_ARN, EntityRules(), "run", 0)
    return parse_envelope(outbound.body)


class TestFilter:
    """The example is an event this consumer receives."""

    def test_the_consumers_filter_admits_the_example(self):
        assert filter_policy().delivers(example())
'''

TEST_EFFECT_PY: Final = (
    _TEST_HEAD
    + '''

class TestLogic:
    """The logic acts on an item that exists, under its effect key, and on nothing else."""

    def test_the_example_item_is_acted_on(self):
        event = parse_envelope(example().body)

        effect = logic.effect_of(event)

        assert effect == logic.Effect(key={expected_key}, item=NEW)

    def test_a_snapshot_is_acted_on_like_a_change(self):
        event = snapshot()
        effect = logic.effect_of(event)

        assert effect == logic.Effect(key={expected_snapshot_key}, item=NEW)

    def test_a_deleted_item_needs_nothing(self):
        assert logic.effect_of(removal()) is None


class TestHandler:
    """Through the Lambda handler, as SQS delivers it: the logic runs, its effect is logged."""

    def test_the_handler_runs_the_logic(self, consumer_env):
        body = example().body
        app.handler.reset()
        assert app.handler.runtime  # built (and its logging configured) before capturing
        with capture_logs() as logs:
            first = app.handler(an_sqs_event(an_sqs_record(body)), FakeContext())
            again = app.handler(an_sqs_event(an_sqs_record(body)), FakeContext())
        app.handler.reset()

        assert failed_ids(first) == failed_ids(again) == []
        effects = [e["effect_key"] for e in logs if e["event"] == "{package}_effect"]
        {handler_assertion}
'''
)

HANDLER_ASSERTIONS: Final = {
    # The runtime claims the event id: the redelivery does not run the logic again.
    "side-effect": "assert effects == [logic.effect_key(parse_envelope(body))]",
    # The runtime writes nothing: the redelivery runs the logic again, under the same key.
    "naturally-idempotent": "assert effects == [parse_envelope(body).id] * 2",
}

TEST_STATE_PY: Final = (
    _TEST_HEAD
    + '''

@pytest.fixture
def table(consumer_env, monkeypatch: pytest.MonkeyPatch) -> str:
    """The consumer's table, as its block's ConsumerConfig would name it."""
    name = "{name}-state"
    create_pk_table(boto3.client("dynamodb"), name)
    monkeypatch.setenv("{table_variable}", name)
    app.settings.cache_clear()
    return name


class TestLogic:
    """The row holds the item's newest state, or a tombstone once it is gone."""

    def test_the_example_item_is_stored(self):
        event = parse_envelope(example().body)

        row = logic.row_of(event)

        assert row["pk"] == {{"S": f"{table}:{{event.subject}}"}}
        assert codec.loads(row["item"]["S"]) == NEW

    def test_a_snapshot_is_stored_like_a_change(self):
        assert codec.loads(logic.row_of(snapshot())["item"]["S"]) == NEW

    def test_a_deleted_item_leaves_a_tombstone(self):
        assert logic.row_of(removal())["deleted"] == {{"BOOL": True}}


class TestHandler:
    """Through the Lambda handler, as SQS delivers it: the table holds the newest state."""

    def test_the_handler_stores_the_item_once(self, table: str):
        body = example().body
        event = parse_envelope(body)
        app.handler.reset()
        first = app.handler(an_sqs_event(an_sqs_record(body)), FakeContext())
        again = app.handler(an_sqs_event(an_sqs_record(body)), FakeContext())
        app.handler.reset()

        assert failed_ids(first) == failed_ids(again) == []
        stored = boto3.client("dynamodb").get_item(
            TableName=table, Key={{"pk": {{"S": f"{table}:{{event.subject}}"}}}}
        )["Item"]
        assert stored["sequence"] == {{"S": event.sequence}}
        assert codec.loads(stored["item"]["S"]) == NEW
'''
)

THIRD_PARTY: Final = {
    "side-effect": "from consumer_builders import an_sqs_event, an_sqs_record, failed_ids\n"
    "from structlog.testing import capture_logs\n"
    "from support.builders import FakeContext, a_stream_record, ddb",
    "state": "import boto3\nimport pytest\n"
    "from consumer_builders import an_sqs_event, an_sqs_record, failed_ids\n"
    "from support.builders import FakeContext, a_stream_record, ddb\n"
    "from support.consumer_tables import create_pk_table",
}
THIRD_PARTY["naturally-idempotent"] = THIRD_PARTY["side-effect"]
SCHEMAS_NAMES: Final = {
    "side-effect": "Envelope, parse_envelope",
    "naturally-idempotent": "Envelope, parse_envelope",
    "state": "Envelope, codec, parse_envelope",
}
