"""Every `fanout ...` command the docs show names a real command, with options it takes.

The docs are what a newcomer types; a renamed command or flag must fail here, not on
their terminal. Commands in fenced blocks are typed as shown, so they must parse as a
whole; inline ones may hold placeholders (``NAME``, ``[--to QUEUE]``), so their command
and option names are checked.
"""

from __future__ import annotations

import contextlib
import io
import re

import pytest

from fanout.cli import build_parser
from tests.support.doc_commands import DOCS, ROOT, doc_commands, subcommands, unknown_words

COMMANDS = doc_commands()
PARSER = build_parser()


def test_the_docs_show_commands():
    # The extraction itself finds them (a broken pattern would pass every check below).
    assert len(COMMANDS) > 50
    assert {c.where.split(":")[0] for c in COMMANDS} >= {"README.md", "docs/local.md"}
    assert any(c.in_block for c in COMMANDS)


@pytest.mark.parametrize("command", COMMANDS, ids=[c.where for c in COMMANDS])
def test_each_names_a_real_command_and_real_options(command):
    assert unknown_words(command.words(), PARSER) == [], f"{command.where}: {command.text}"


BLOCK_COMMANDS = [c for c in COMMANDS if c.in_block]


@pytest.mark.parametrize("command", BLOCK_COMMANDS, ids=[c.where for c in BLOCK_COMMANDS])
def test_each_typed_command_parses(command):
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            build_parser().parse_args(command.words())
        except SystemExit as exc:
            pytest.fail(f"{command.where}: `{command.text}`: {err.getvalue().strip()} ({exc})")


def test_the_check_catches_a_wrong_command_and_a_wrong_option():
    assert unknown_words(["new-consumer"], PARSER)
    assert unknown_words(["tail", "--nope", "hub"], PARSER) == ["--nope"]
    assert unknown_words(["--nope"], PARSER) == ["--nope"]
    assert unknown_words(["local", "nope"], PARSER)
    assert unknown_words(["dlq", "redrive", "NAME", "[--to", "QUEUE]"], PARSER) == []


def test_every_command_is_documented():
    # `fanout --help` lists these; each appears in README.md or docs/*.md.
    shown = {c.words()[0] for c in COMMANDS if c.words()}
    assert set(subcommands(PARSER)) <= shown


RUNNER = re.compile(r"\buv run\b|\.tools/bin/uv\b")


@pytest.mark.parametrize("doc", DOCS, ids=[d.relative_to(ROOT).as_posix() for d in DOCS])
def test_one_way_to_run_the_tools(doc):
    """Commands run in the activated venv (`make setup`, `source .venv/bin/activate`)."""
    lines = [
        f"{doc.name}:{n}: {line.strip()}"
        for n, line in enumerate(doc.read_text(encoding="utf-8").splitlines(), 1)
        if RUNNER.search(line)
    ]
    assert lines == []


def test_the_readme_says_how_to_run_fanout_first():
    first_screen = "\n".join((ROOT / "README.md").read_text(encoding="utf-8").splitlines()[:30])
    assert "source .venv/bin/activate" in first_screen
    assert "uv tool install ." in first_screen
