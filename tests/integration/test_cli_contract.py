"""The CLI contract: every command answers bad input with one line on stderr and its exit code.

Exit codes (docs/cli.md): 0 done, 1 the operation failed, 2 a usage error or something
named that does not exist. Each row is an argument list, the exit code, and a regex
the first line of stderr must match. The commands run in-process (``fanout.cli.main``)
against a moto server holding a hub's stacks, with a `fanout local up` state file
naming it; the "no hub" rows run with no state file and nothing named.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.cli import run_main
from support.fresh_clone import ROOT
from support.hub_state import write_state

from fanout.cli import main
from fanout.connection import Connection
from fanout.local import hub as local_hub
from fanout.local.server import MotoEndpoint, local_session
from fanout.options import ENVIRONMENT

HUB = "fanout-hub"
EVENT = str(ROOT / "events" / "router" / "insert.json")
SQS_EVENT = str(ROOT / "events" / "projection" / "sqs-raw.json")

# A hub as ``fanout.ops.resolve`` reads one: the root stack's outputs, and one consumer
# stack named <hub>-<LogicalId> whose parameters name it and the hub's topic.
ROOT_TEMPLATE = {
    "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
    "Outputs": {
        "TopicArn": {"Value": {"Ref": "Topic"}},
        "RouterFunctionName": {"Value": "fanout-hub-router"},
    },
}
CONSUMER_TEMPLATE = {
    "Parameters": {"ConsumerName": {"Type": "String"}, "TopicArn": {"Type": "String"}},
    "Resources": {
        "Queue": {"Type": "AWS::SQS::Queue"},
        "DeadLetterQueue": {"Type": "AWS::SQS::Queue"},
    },
    "Outputs": {
        "QueueUrl": {"Value": {"Ref": "Queue"}},
        "QueueArn": {"Value": {"Fn::GetAtt": ["Queue", "Arn"]}},
        "DeadLetterQueueUrl": {"Value": {"Ref": "DeadLetterQueue"}},
        "DeadLetterQueueArn": {"Value": {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}},
    },
}
FUNCTIONS = [
    {"name": "fanout-hub-router", "logical_id": "RouterFunction", "handler": "router.app.handler"},
    {
        "name": "fanout-hub-BillingConsumer-ConsumerFunction",
        "logical_id": "BillingConsumer/ConsumerFunction",
        "handler": "consumers.kit.handler",
        "environment": {"CONSUMER_NAME": "billing"},
    },
]


@pytest.fixture(scope="module")
def moto_hub() -> Iterator[tuple[str, str]]:
    """A moto server holding the hub's root stack and one consumer, ``billing``."""
    with MotoEndpoint() as server:
        cloudformation = Connection(endpoint_url=server.url, session=local_session()).client(
            "cloudformation"
        )
        cloudformation.create_stack(StackName=HUB, TemplateBody=json.dumps(ROOT_TEMPLATE))
        outputs = cloudformation.describe_stacks(StackName=HUB)["Stacks"][0]["Outputs"]
        topic = next(o["OutputValue"] for o in outputs if o["OutputKey"] == "TopicArn")
        cloudformation.create_stack(
            StackName=f"{HUB}-BillingConsumer",
            TemplateBody=json.dumps(CONSUMER_TEMPLATE),
            Parameters=[
                {"ParameterKey": "ConsumerName", "ParameterValue": "billing"},
                {"ParameterKey": "TopicArn", "ParameterValue": topic},
            ],
        )
        yield server.url, topic


@pytest.fixture
def nothing_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No FANOUT_* variable, and the state file where this test says (none yet)."""
    for variable in ENVIRONMENT.values():
        monkeypatch.delenv(variable, raising=False)
    state_file = tmp_path / "fanout-local-hub.json"
    monkeypatch.setattr(local_hub, "STATE_FILE", state_file)
    return state_file


@pytest.fixture
def running_hub(moto_hub: tuple[str, str], nothing_named: Path, tmp_path: Path) -> Path:
    """A `fanout local up` state file naming the moto hub (this process stands for its pid)."""
    outputs = {"TopicArn": "", "RouterFunctionName": "fanout-hub-router"}
    functions = [
        {"environment": {}, "timeout_seconds": 3, "memory_mb": 128, "arn": None, "layers": []}
        | function
        for function in FUNCTIONS
    ]
    endpoint, topic = moto_hub
    write_state(
        nothing_named,
        endpoint_url=endpoint,
        embedded=False,  # nothing to serve: the rows below never invoke a function
        topic_arn=topic,
        table_name="demo",
        outputs=outputs,
        functions=functions,
        handler_environment={},
    )
    (tmp_path / "not-json.json").write_text("{not json")
    return tmp_path


def _files(argv: list[str], folder: Path) -> list[str]:
    return [arg.replace("{tmp}", str(folder)) for arg in argv]


NOT_JSON = "{tmp}/not-json.json"
MISSING = "{tmp}/missing.json"

# argv, exit code, first line of stderr (a regex, matched from its start)
WITH_A_HUB = [
    # a stack that does not exist, answered with the hub stacks there
    (
        ["status", "--stack-name", "nope"],
        2,
        r"fanout: no stack 'nope' at http://127\.0\.0\.1:\d+ \(hub stacks there: fanout-hub\)",
    ),
    (["dlq", "peek", "billing", "--stack-name", "nope"], 2, r"fanout: no stack 'nope'"),
    (["tail", "--stack-name", "nope"], 2, r"fanout: no stack 'nope'"),
    # unknown names, answered with the valid ones
    (
        ["dlq", "redrive", "billing", "--to", "nowhere", "--dry-run"],
        2,
        r"fanout: --to 'nowhere' is not a consumer of stack 'fanout-hub' \(consumers: billing\)",
    ),
    (
        ["dlq", "peek", "nowhere"],
        2,
        r"fanout: 'nowhere' is not a consumer of stack 'fanout-hub' \(router, billing\)",
    ),
    (
        ["backfill", "nowhere"],
        2,
        r"fanout: no consumer 'nowhere' in stack 'fanout-hub' \(known: billing\)",
    ),
    (
        ["local", "invoke", "nowhere", "--event", EVENT],
        2,
        (
            r"fanout: no function 'nowhere' in the hub "
            r"\(functions: BillingConsumer \(billing\), RouterFunction\)"
        ),
    ),
    # an event of the other kind: a stream record for a consumer, a queue message for the router
    (
        ["local", "invoke", "billing", "--event", EVENT],
        2,
        (
            r"fanout: .*insert\.json holds aws:dynamodb records, but BillingConsumer/ConsumerFunction"
            r" reads aws:sqs records \(e\.g\. events/projection/sqs-raw\.json\)"
        ),
    ),
    (
        ["local", "invoke", "RouterFunction", "--event", SQS_EVENT],
        2,
        r"fanout: .*sqs-raw\.json holds aws:sqs records, but RouterFunction reads aws:dynamodb",
    ),
    (
        ["status", "--nope"],
        2,
        r"fanout status: unrecognized arguments: --nope \(see fanout status --help\)",
    ),
    (["dlq", "peek", "audit-log", "--nope"], 2, r"fanout dlq peek: unrecognized arguments: --nope"),
    (["--nope", "status"], 2, r"fanout: unrecognized arguments: --nope \(see fanout --help\)"),
    (["dlq", "redrive", "billing", "--method", "fast"], 2, r"fanout dlq redrive: argument"),
    # missing and malformed files
    (
        ["local", "invoke", "billing", "--event", MISSING],
        2,
        r"fanout: cannot read the event file .*missing\.json: No such file or directory",
    ),
    (
        ["local", "invoke", "BillingConsumer", "--event", NOT_JSON],
        2,
        r"fanout: the event file .*not-json\.json is not JSON",
    ),
    (["local", "put", "--file", MISSING], 2, r"fanout local put: cannot read .*missing\.json"),
    (["local", "put", "{not json"], 2, r"fanout local put: the item is not valid JSON"),
    # malformed JSON
    (["tail", "--filter", "{bad"], 2, r"fanout: the JSON filter policy is not valid JSON"),
    (["tail", "--filter", "[1]"], 2, r"fanout: filter '\[1\]' is not KEY=VALUE"),
    (
        ["tail", "--filter", "colour=red"],
        2,
        r"fanout: unknown filter key 'colour': valid keys are type",
    ),
    (
        ["tail", "--topic-arn", "arn:aws:sns:us-east-1:123456789012:nope"],
        2,
        r"fanout: no topic arn:aws:sns:us-east-1:123456789012:nope",
    ),
    (
        ["tail", "--filter", '{"entity": "order"}', "--duration", "1"],
        2,
        r"fanout: SNS refused the --filter policy",
    ),
    # out-of-range numbers
    (
        ["dlq", "peek", "billing", "--limit", "-3"],
        2,
        r"fanout dlq peek: argument --limit: must be a whole number of at least 1, got -3",
    ),
    (["dlq", "peek", "billing", "--visibility", "43201"], 2, r"fanout dlq peek: argument"),
    (
        ["dlq", "redrive", "billing", "--rate", "-1"],
        2,
        r"fanout dlq redrive: argument --rate: must be a number of at least 0, got -1",
    ),
    (["dlq", "redrive", "billing", "--limit", "0"], 2, r"fanout dlq redrive: argument --limit"),
    (["replay", "poison", "--limit", "-1"], 2, r"fanout replay poison: argument --limit"),
    (
        ["backfill", "billing", "--capacity-share", "2"],
        2,
        r"fanout backfill: argument --capacity-share: must be a share above 0 and at most 1",
    ),
    (["backfill", "billing", "--segments", "0"], 2, r"fanout backfill: argument --segments"),
    (["backfill", "billing", "--capacity-share", "0"], 2, r"fanout backfill: argument"),
    (["tail", "--count", "-1"], 2, r"fanout tail: argument --count"),
    (["tail", "--duration", "nan"], 2, r"fanout tail: argument --duration"),
    (["local", "up", "--retry-after", "-1"], 2, r"fanout local up: argument --retry-after"),
    (
        ["cost", "--events-per-day", "1", "--item-kb", "1", "--match-fraction", "2"],
        2,
        r"fanout cost: --match-fraction must be between 0 and 1",
    ),
    (["cost", "--events-per-day", "-5", "--item-kb", "1"], 2, r"fanout cost: --events-per-day"),
]

# An endpoint that does not answer: the operation fails (exit 1), in one line. `tail`
# leaves the SDK's error to fanout.cli.main's guard; the operations commands catch it.
CLOSED = "http://127.0.0.1:9"
WITH_A_HUB += [
    (["status", "--endpoint-url", CLOSED], 1, r"fanout: http://127\.0\.0\.1:9 is not answering"),
    (["tail", "--endpoint-url", CLOSED], 1, r"fanout: http://127\.0\.0\.1:9 is not answering"),
]

NO_HUB = r"fanout: no local hub is running \(start `fanout local up`\)"
WITHOUT_A_HUB = [
    (["status"], 2, NO_HUB),
    (["status", "--json"], 2, NO_HUB),
    (["tail"], 2, NO_HUB),
    (["dlq", "peek", "billing"], 2, NO_HUB),
    (["dlq", "redrive", "billing"], 2, NO_HUB),
    (["replay", "poison"], 2, NO_HUB),
    (["replay", "stream-failures"], 2, NO_HUB),
    (["backfill", "billing"], 2, NO_HUB),
    (["kit", "publish"], 2, NO_HUB),
    (["env-vars", "-o", "-"], 2, r"fanout env-vars: no local hub is running"),
    (["local", "put", '{"pk": "a"}'], 2, r"fanout local put: no `fanout local up` is running"),
    # Item contracts: read from the repository and template.yaml, no hub needed.
    (["schema", "check", "--against", "no-such-ref"], 2, r"fanout: unknown git ref 'no-such-ref'"),
    (
        ["consumers", "--operation", "nope"],
        2,
        r"fanout consumers: argument --operation: invalid choice: 'nope' \(choose from 'created'",
    ),
    (
        ["consumers", "--type", "order.created", "--entity", "user"],
        2,
        r"fanout: --type order\.created has entity 'order', not 'user'",
    ),
    # a type the router never publishes: <entity>.<operation>, a lower-case entity
    (
        ["consumers", "--type", "user"],
        2,
        (
            r"fanout: --type user is not <entity>\.<operation> with an operation the router "
            r"publishes \(created, updated, deleted, expired, snapshot\)"
        ),
    ),
    (["consumers", "--type", "user.bogus"], 2, r"fanout: --type user\.bogus is not <entity>"),
    (
        ["consumers", "--type", "User.updated"],
        2,
        r"fanout: --type User\.updated: the router lower-cases entities, try user\.updated",
    ),
    (["consumers", "--entity", "User"], 2, r"fanout: --entity 'User': the router lower-cases"),
    (
        ["consumers", "--template", str(ROOT / "README.md")],
        2,
        r"fanout: cannot read the template \S+README\.md: mapping values are not allowed",
    ),
    # The scaffold: the names it refuses (nothing is written), and no project to add to.
    (
        ["consumer", "new", "router", "--root", str(ROOT)],
        2,
        r"fanout: consumer name 'router' is reserved",
    ),
    (
        ["consumer", "new", "projection", "--root", str(ROOT)],
        2,
        r"fanout: consumer name 'projection' is a consumer in template\.yaml already",
    ),
    (
        ["consumer", "new", "Billing", "--root", str(ROOT)],
        2,
        r"fanout: consumer name 'Billing' must match \^\[a-z\]",
    ),
    (
        ["consumer", "new", "billing", "--owner", "billing!", "--root", str(ROOT)],
        2,
        r"fanout consumer new: argument --owner: 'billing!' is not a tag value",
    ),
    (
        ["consumer", "new", "billing", "--filter", "colour=red", "--root", str(ROOT)],
        2,
        r"fanout: unknown filter key 'colour': valid keys are type",
    ),
    (
        ["consumer", "new", "billing", "--root", "{tmp}"],
        2,
        r"fanout: not a fanout-hub project: no template\.yaml in /\S+ \(use --root\)",
    ),
    (
        ["schema", "check", "--root", "{tmp}"],
        2,
        r"fanout: /\S+ is not in a git repository",
    ),
]


def _row_id(value: object) -> str | None:
    return " ".join(value) if isinstance(value, list) else None


def _assert_contract(argv: list[str], code: int, first_line: str, folder: Path) -> None:
    ran = run_main(_files(argv, folder))
    assert ran.code == code, ran.err
    assert re.match(first_line, ran.first_error_line), ran.err
    assert "Traceback" not in ran.err


@pytest.mark.parametrize(("argv", "code", "first_line"), WITH_A_HUB, ids=_row_id)
def test_bad_input_with_a_hub_running(running_hub, argv, code, first_line):
    # GIVEN a running local hub WHEN a command gets bad input
    # THEN it exits with the code, and stderr's first line says what, in one line
    _assert_contract(argv, code, first_line, running_hub)


@pytest.mark.parametrize(("argv", "code", "first_line"), WITHOUT_A_HUB, ids=_row_id)
def test_no_hub_and_nothing_named(nothing_named, argv, code, first_line):
    # GIVEN no local hub and no --stack-name/--profile/--endpoint-url/FANOUT_*
    # WHEN a command that talks to a hub runs THEN it says so instead of calling AWS
    _assert_contract(argv, code, first_line, nothing_named.parent)


class TestEnvironment:
    """Each shared option can come from FANOUT_*; a flag given beats the variable."""

    def test_the_variable_names_the_stack(self, running_hub, monkeypatch):
        monkeypatch.setenv("FANOUT_STACK_NAME", "from-env")
        ran = run_main(["status"])
        assert (ran.code, ran.first_error_line.startswith("fanout: no stack 'from-env'")) == (
            2,
            True,
        ), ran.err

    def test_the_flag_beats_the_variable(self, running_hub, monkeypatch):
        monkeypatch.setenv("FANOUT_STACK_NAME", "from-env")
        ran = run_main(["status", "--stack-name", "from-flag"])
        assert ran.first_error_line.startswith("fanout: no stack 'from-flag'"), ran.err

    def test_an_endpoint_from_the_environment_needs_no_hub(
        self, moto_hub, nothing_named, monkeypatch
    ):
        # GIVEN no running hub, and the endpoint and stack in FANOUT_* variables
        monkeypatch.setenv("FANOUT_ENDPOINT_URL", moto_hub[0])
        monkeypatch.setenv("FANOUT_STACK_NAME", HUB)
        monkeypatch.setenv("FANOUT_REGION", "us-east-1")
        # WHEN status runs with no flags THEN it reads that hub
        ran = run_main(["status", "--json"])
        assert ran.code == 0, ran.err
        assert ran.document()["stack_name"] == HUB
        owners = {q["owner"] for q in ran.document()["queues"]}
        assert "billing" in owners


def test_a_closed_pipe_is_a_quiet_exit(moto_hub, nothing_named, monkeypatch, capsys):
    # GIVEN stdout is a pipe whose reader has gone (`fanout status --json | head -c1`)
    monkeypatch.setenv("FANOUT_ENDPOINT_URL", moto_hub[0])
    monkeypatch.setenv("FANOUT_STACK_NAME", HUB)
    read_end, write_end = os.pipe()
    os.close(read_end)
    with os.fdopen(write_end, "w") as closed_pipe:
        monkeypatch.setattr(sys, "stdout", closed_pipe)
        # WHEN the command writes its document to it
        code = main(["status", "--json"])
        monkeypatch.undo()
    # THEN it exits 0, and stderr holds nothing
    assert (code, capsys.readouterr().err) == (0, "")


def test_a_dry_run_redrive_lists_what_would_move(running_hub, moto_hub):
    # GIVEN two dead letters in billing's DLQ
    connection = Connection(endpoint_url=moto_hub[0], session=local_session())
    cloudformation, sqs = connection.client("cloudformation"), connection.client("sqs")
    stack = cloudformation.describe_stacks(StackName=f"{HUB}-BillingConsumer")["Stacks"][0]
    dlq = next(o["OutputValue"] for o in stack["Outputs"] if o["OutputKey"] == "DeadLetterQueueUrl")
    sent = {sqs.send_message(QueueUrl=dlq, MessageBody="{}")["MessageId"] for _ in range(2)}
    try:
        # WHEN a dry run of the redrive runs
        ran = run_main(["dlq", "redrive", "billing", "--dry-run", "--method", "loop"])
        # THEN it lists each message it would move, and moves none
        assert ran.code == 0, ran.err
        assert sent <= set(ran.out.split())
        assert "would move 2 message(s)" in ran.out
        counts = sqs.get_queue_attributes(
            QueueUrl=dlq,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        assert sum(map(int, counts.values())) == len(sent)
    finally:
        sqs.purge_queue(QueueUrl=dlq)
