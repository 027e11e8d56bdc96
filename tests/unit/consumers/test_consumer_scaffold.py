"""``fanout consumer new`` makes a consumer that lints, deploys through the kit and passes its test."""

from __future__ import annotations

import difflib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fanout.cli import main
from fanout.scaffold import NewConsumer, ScaffoldError, filter_policy, insert_block

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
        with pytest.raises(ScaffoldError, match="KEY"):
            filter_policy(["colour=red"])


class TestTemplateInsertion:
    """The template gains one block and nothing else changes."""

    def test_an_existing_name_is_refused(self):
        template = (REPO / "template.yaml").read_text()

        with pytest.raises(ScaffoldError, match="AuditLogConsumer"):
            insert_block(template, NewConsumer("audit-log", {}))


class TestScaffoldEndToEnd:
    """In a copy of the repository: scaffold, lint the template, run the generated test."""

    def test_a_new_consumer_is_valid_and_its_test_passes(self, repo_copy: Path):
        before = (repo_copy / "template.yaml").read_text()

        code = main(
            ["consumer", "new", "billing", "--filter", "type=order.*", "--root", str(repo_copy)]
        )

        assert code == 0
        after = (repo_copy / "template.yaml").read_text()
        opcodes = difflib.SequenceMatcher(
            None, before.splitlines(), after.splitlines()
        ).get_opcodes()
        assert {tag for tag, *_ in opcodes} == {"equal", "insert"}
        assert "  BillingConsumer:\n" in after
        assert json.dumps({"type": [{"prefix": "order."}]}) in after
        assert (repo_copy / "consumers" / "billing" / "app.py").exists()

        lint = subprocess.run(  # noqa: S603 - a fixed command line
            [str(Path(sys.executable).with_name("cfn-lint")), "template.yaml"],
            cwd=repo_copy,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert lint.returncode == 0, lint.stdout + lint.stderr

        generated = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:cacheprovider",
                "tests/unit/consumers/test_consumer_billing.py",
            ],
            cwd=repo_copy,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
            env={**os.environ, "PYTHONPATH": str(repo_copy)},
        )
        assert generated.returncode == 0, generated.stdout + generated.stderr
        assert "2 passed" in generated.stdout

    def test_scaffolding_the_same_name_twice_fails_cleanly(self, repo_copy: Path):
        assert main(["consumer", "new", "billing", "--root", str(repo_copy)]) == 0
        template = (repo_copy / "template.yaml").read_text()

        assert main(["consumer", "new", "billing", "--root", str(repo_copy)]) == 2
        assert (repo_copy / "template.yaml").read_text() == template
