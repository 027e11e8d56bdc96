"""``fanout consumer new`` makes a consumer that lints, deploys through the kit and passes its test.

The generated test runs the consumer's real logic on an envelope the router's own
normaliser makes from a stream record its filter admits; the generated code passes
``mypy --strict`` for every ``--mode``.
"""

from __future__ import annotations

import difflib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from support.builders import a_stream_record, ddb

from fanout.cli import main
from fanout.deploy.template import load_template
from fanout.ops.backfill import snapshot_outbound
from fanout.scaffold import (
    OWNER_PATTERN,
    ExampleChange,
    NewConsumer,
    ScaffoldError,
    example_change,
    filter_policy,
    insert_block,
)
from router.normalise import EntityRules, to_outbound

REPO = Path(__file__).resolve().parents[3]
IGNORED = shutil.ignore_patterns(
    ".venv",
    ".git",
    "__pycache__",
    ".pytest_cache",
    ".mypy_cache",
    ".ruff_cache",
    ".aws-sam",
    ".hypothesis",
    "bench",
)


@pytest.fixture
def repo_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "repo"
    shutil.copytree(REPO, copy, ignore=IGNORED)
    return copy


@pytest.fixture(scope="class")
def shared_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One copy for tests that must leave it as it was."""
    copy = tmp_path_factory.mktemp("shared") / "repo"
    shutil.copytree(REPO, copy, ignore=IGNORED)
    return copy


class TestFilterPolicy:
    """Filters become SNS subscription filter policies."""

    def test_a_trailing_star_is_a_prefix_match(self):
        assert filter_policy(["type=order.*"]) == {"type": [{"prefix": "order."}]}

    def test_values_and_keys_combine(self):
        assert filter_policy(["type=order.created,order.deleted", "table=Orders"]) == {
            "type": ["order.created", "order.deleted"],
            "table": ["Orders"],
        }

    def test_an_unknown_key_is_refused(self):
        with pytest.raises(ScaffoldError, match="valid keys are"):
            filter_policy(["colour=red"])

    def test_changed_is_a_key(self):
        assert filter_policy(["changed=status"]) == {"changed": ["status"]}


class TestExampleChange:
    """The generated test's change is one the consumer's filter admits."""

    @pytest.mark.parametrize(
        ("filters", "operation", "entity"),
        [
            ([], "created", "order"),
            (["type=order.*"], "created", "order"),
            (["changed=status"], "updated", "order"),
            (["operation=deleted"], "deleted", "order"),
            (["type=customer.snapshot"], "snapshot", "customer"),
            (["entity=invoice", "operation=prefix:exp"], "expired", "invoice"),
        ],
    )
    def test_it_passes_the_filter(self, filters, operation, entity):
        change = example_change(filter_policy(filters))

        assert change is not None
        assert (change.operation, change.entity) == (operation, entity)

    @pytest.mark.parametrize("operation", ["created", "updated", "deleted", "expired", "snapshot"])
    def test_its_attributes_are_the_routers(self, operation):
        # The scaffold predicts what the router publishes; the router's own code decides.
        change = ExampleChange(operation, "invoice", "Billing", changed="status")
        table_arn = f"arn:aws:dynamodb:us-east-1:123456789012:table/{change.table}"
        if operation == "snapshot":
            outbound = snapshot_outbound(
                ddb(change.new), sorted(change.keys), table_arn, EntityRules(), "run", 0
            )
        else:
            event_name = {"created": "INSERT", "updated": "MODIFY"}.get(operation, "REMOVE")
            record = a_stream_record(
                event_name,
                keys=change.keys,
                new=change.new if event_name != "REMOVE" else None,
                old=change.new if event_name == "REMOVE" else change.old,
                ttl=operation == "expired",
                stream_arn=f"{table_arn}/stream/2026-11-27T00:00:00.000",
            )
            outbound = to_outbound(record, EntityRules())

        assert change.attributes() == outbound.attributes

    def test_a_filter_nothing_passes_is_refused(self, repo_copy: Path, capsys):
        code = main(
            ["consumer", "new", "x", "--filter", "schemaversion=9", "--root", str(repo_copy)]
        )

        ran = capsys.readouterr()
        assert code == 2
        assert ran.out == ""
        assert ran.err.startswith("fanout: no event the router publishes")
        assert not (repo_copy / "consumers" / "x").exists()


class TestTakenNames:
    """A reserved or taken name is refused in one line, exit 2, and nothing is written."""

    @pytest.mark.parametrize(
        ("name", "why"),
        [
            ("router", "reserved"),
            ("projection", "a consumer in template.yaml"),
            ("auditlog", "AuditlogConsumer, a resource"),  # AuditLogConsumer, case aside
            ("runtime", "consumers/runtime exists"),
            ("kit", "consumers/kit exists"),
            ("scaffold", "test_consumer_scaffold.py exists"),
            ("class", "Python keyword"),
        ],
    )
    def test_it_is_refused(self, shared_copy: Path, capsys, name, why):
        repo_copy = shared_copy
        template = (repo_copy / "template.yaml").read_text()
        before = sorted(p.name for p in (repo_copy / "consumers").iterdir())

        code = main(["consumer", "new", name, "--root", str(repo_copy)])

        ran = capsys.readouterr()
        assert code == 2
        assert ran.out == ""
        assert ran.err.startswith("fanout: consumer name")
        assert ran.err.count("\n") == 1
        assert why in ran.err
        assert (repo_copy / "template.yaml").read_text() == template
        assert sorted(p.name for p in (repo_copy / "consumers").iterdir()) == before


class TestTemplateInsertion:
    """The template gains one block and nothing else changes."""

    def test_an_existing_name_is_refused(self):
        template = (REPO / "template.yaml").read_text()

        with pytest.raises(ScaffoldError, match="AuditLogConsumer"):
            insert_block(template, NewConsumer("audit-log", {}))

    def test_an_owner_becomes_the_kits_owner_parameter(self):
        template = (REPO / "template.yaml").read_text()

        updated = insert_block(template, NewConsumer("billing", {}, owner="billing team"))

        block = updated[updated.index("  BillingConsumer:") :]
        assert '        Owner: "billing team"\n' in block

    def test_the_owner_rule_is_the_kits(self):
        kit = load_template(REPO / "consumers" / "kit" / "template.yaml")
        owner = kit["Parameters"]["Owner"]
        # The kit's pattern for zero or more characters, up to its MaxLength, minus the empty
        # value (no --owner) that the scaffold never writes.
        assert OWNER_PATTERN.pattern == owner["AllowedPattern"].replace(
            "*", f"{{1,{owner['MaxLength']}}}"
        )


MODES = {
    # each consumer name, with its mode and its filters
    "billing": ("side-effect", ["type=order.*"]),
    "status-mail": ("naturally-idempotent", ["changed=status"]),
    "order-search": ("state", ["entity=order", "operation=created,updated,snapshot"]),
}


def run(*command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """A command in the copy, which is on PYTHONPATH as a fresh clone's checkout would be."""
    return subprocess.run(  # noqa: S603 - fixed command lines
        command,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "PYTHONPATH": str(cwd)},
    )


class TestScaffoldEndToEnd:
    """In a copy of the repository: scaffold each mode, lint the template, run the generated
    tests and type-check the generated code with ``mypy --strict``."""

    def test_new_consumers_are_valid_typed_and_their_tests_pass(self, repo_copy: Path):
        before = (repo_copy / "template.yaml").read_text()

        for name, (mode, filters) in MODES.items():
            flags = [w for f in filters for w in ("--filter", f)]
            command = ["consumer", "new", name, "--mode", mode, *flags]
            assert main([*command, "--root", str(repo_copy)]) == 0

        after = (repo_copy / "template.yaml").read_text()
        opcodes = difflib.SequenceMatcher(
            None, before.splitlines(), after.splitlines()
        ).get_opcodes()
        assert {tag for tag, *_ in opcodes} == {"equal", "insert"}
        assert "  BillingConsumer:\n" in after
        # The operator policy reaches its queues (`fanout status`, the DLQ commands).
        assert "${AWS::StackName}-BillingConsumer-*" in after
        assert json.dumps({"type": [{"prefix": "order."}]}) in after
        assert json.dumps({"changed": ["status"]}) in after
        assert (
            "@consumer(mode=Mode.STATE, setup=settings)"
            in (repo_copy / "consumers" / "order_search" / "app.py").read_text()
        )
        assert (
            "@consumer(mode=Mode.NATURALLY_IDEMPOTENT)"
            in (repo_copy / "consumers" / "status_mail" / "app.py").read_text()
        )

        lint = run(str(Path(sys.executable).with_name("cfn-lint")), "template.yaml", cwd=repo_copy)
        assert lint.returncode == 0, lint.stdout + lint.stderr

        tests = [f"tests/unit/consumers/test_consumer_{n.replace('-', '_')}.py" for n in MODES]
        generated = run(
            sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests, cwd=repo_copy
        )
        assert generated.returncode == 0, generated.stdout + generated.stderr
        assert "15 passed" in generated.stdout

        packages = [f"consumers/{n.replace('-', '_')}" for n in MODES]
        typed = run(sys.executable, "-m", "mypy", "--strict", *packages, cwd=repo_copy)
        assert typed.returncode == 0, typed.stdout + typed.stderr

        ruff = str(Path(sys.executable).with_name("ruff"))
        for check in (["check"], ["format", "--check"]):
            linted = run(ruff, *check, *packages, *tests, cwd=repo_copy)
            assert linted.returncode == 0, linted.stdout + linted.stderr

    def test_scaffolding_the_same_name_twice_fails_cleanly(self, repo_copy: Path):
        assert main(["consumer", "new", "billing", "--root", str(repo_copy)]) == 0
        template = (repo_copy / "template.yaml").read_text()

        assert main(["consumer", "new", "billing", "--root", str(repo_copy)]) == 2
        assert (repo_copy / "template.yaml").read_text() == template
