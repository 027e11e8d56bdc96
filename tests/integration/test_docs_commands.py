"""The docs' shell blocks: each is marked to run or illustrative, and the marked ones run.

Every fenced shell block of README.md and docs/*.md carries a marker on the line
before its fence: ``<!-- docs-test: run -->`` or ``<!-- docs-test: illustrative: WHY -->``.
The run blocks are typed as written, in order per document, against a local hub that
the docs' own ``fanout local up`` starts (``support.doc_runner``; started again when a
document changed template.yaml).

They run where a newcomer types them: a fresh ``git clone`` of HEAD (commit first:
uncommitted changes are not in it), in a shell with no uv, no ``.venv`` and no AWS
credentials. The first thing run is the docs' setup step, ``make setup && source
.venv/bin/activate``: the clone bootstraps its own uv and installs the locked packages
into its own ``.venv``, and every later command uses that environment. What the clone
proves: the committed files are enough to get from clone to "my consumer received an
event" with the commands the docs show (docs/writing-a-consumer.md: set up, scaffold a
consumer, start the hub with it, put an item, see the consumer process the event).
What it reuses from this machine: pip's and uv's download caches (the setup links the
same locked packages instead of downloading them; about 7 s) and ``python3``, ``make``,
``git`` and ``bash``.

Its wall time is printed per command (``-s``); ``FANOUT_DOCS_TEST_DOCS`` names the
documents to run (comma-separated; default: all; the setup step runs in any case).
"""

from __future__ import annotations

import os
import textwrap
import time
from collections.abc import Iterator

import pytest
from support.doc_commands import marked_blocks, shell_blocks
from support.doc_runner import READY, DocSession

pytestmark = pytest.mark.e2e

BLOCKS = marked_blocks()
# README.md first, as a newcomer reads it; then the newcomer's path, whose scaffolded
# consumer makes the session start its hub again; the others use the running hub.
FIRST = "docs/writing-a-consumer.md"
ORDER = ["README.md", FIRST, *(doc for doc in BLOCKS if doc not in {"README.md", FIRST})]
# The newcomer's first command after the clone (README.md says it before any other
# command; the block is the newcomer's path's), run before any document's blocks.
SETUP = next(
    b
    for doc in ORDER
    for b in BLOCKS.get(doc, [])
    if b.kind == "run" and any("make setup" in c for c in b.commands())
)
SELECTED = [
    doc
    for doc in ORDER
    if not os.environ.get("FANOUT_DOCS_TEST_DOCS")
    or doc in os.environ["FANOUT_DOCS_TEST_DOCS"].split(",")
]


class TestMarkers:
    """Every shell block says whether the docs test runs it, and an illustrative one says why."""

    def test_every_shell_block_is_marked(self):
        unmarked = [b.where for blocks in BLOCKS.values() for b in blocks if b.kind is None]
        wrong = [
            b.where
            for blocks in BLOCKS.values()
            for b in blocks
            if b.kind not in (None, "run", "illustrative")
        ]

        assert unmarked == [], (
            "add <!-- docs-test: run --> or <!-- docs-test: illustrative: WHY -->"
        )
        assert wrong == []

    def test_every_illustrative_block_says_why(self):
        silent = [
            b.where
            for blocks in BLOCKS.values()
            for b in blocks
            if b.kind == "illustrative" and not b.reason
        ]

        assert silent == []

    def test_the_check_finds_an_unmarked_block_and_reads_markers(self):
        text = textwrap.dedent(
            """\
            ```bash
            fanout status
            ```
            <!-- docs-test: run; expect: order.created -->
            ```console
            $ fanout cost
            output, not a command
            ```
            <!-- docs-test: illustrative: real AWS -->
            ```sh
            sam deploy \\
              --guided
            ```
            ```json
            {"not": "shell"}
            ```
            """
        )

        unmarked, run, illustrative = shell_blocks(text, "x.md")

        assert unmarked.kind is None
        assert (run.kind, run.expect, run.commands()) == (
            "run",
            ("order.created",),
            ["fanout cost"],
        )
        assert (illustrative.kind, illustrative.reason) == ("illustrative", "real AWS")
        assert illustrative.commands() == ["sam deploy    --guided"]

    def test_the_newcomers_path_is_run(self):
        run = [b for b in BLOCKS[FIRST] if b.kind == "run"]
        commands = " ".join(c for b in run for c in b.commands())

        assert SETUP.where.startswith(FIRST)
        assert SETUP.commands()[0].startswith("make setup && source .venv/bin/activate")
        assert "fanout consumer new billing" in commands
        assert "fanout local up" in commands
        assert "fanout local put" in commands
        assert any("processed=1" in text for b in run for text in b.expect)


class TestRunner:
    """A run block fails on a command that fails, and on output that never comes."""

    def test_a_failing_command_fails_its_block(self, tmp_path):
        session = DocSession(tmp_path, tmp_path)
        (block,) = shell_blocks("<!-- docs-test: run -->\n```bash\ntrue\nexit 3\n```\n", "x.md")

        with pytest.raises(AssertionError, match=r"x\.md:2: `exit 3` exited 3"):
            session.run_block(block)

    def test_what_a_command_exports_holds_for_the_next(self, tmp_path):
        # GIVEN a block whose first command sources a file that exports a variable, as activate does
        (tmp_path / "activate").write_text("export DOCS_TEST_MARK=sourced\n")
        session = DocSession(tmp_path, tmp_path)
        text = (
            "<!-- docs-test: run -->\n```bash\nsource ./activate  # a comment\n"
            'test "$DOCS_TEST_MARK" = sourced\n```\n'
        )
        (block,) = shell_blocks(text, "x.md")
        # WHEN it runs THEN the second command sees it (it would exit 1 otherwise)
        session.run_block(block)
        assert session.environment()["DOCS_TEST_MARK"] == "sourced"

    def test_a_new_terminal_has_no_project_tooling(self, tmp_path):
        env = DocSession(tmp_path, tmp_path).environment()
        assert not any(k.startswith("AWS_ACCESS_KEY") or k == "AWS_PROFILE" for k in env)
        assert "VIRTUAL_ENV" not in env
        assert ".venv" not in env["PATH"]
        assert "PYTHONDONTWRITEBYTECODE" not in env

    def test_an_expected_line_that_never_comes_fails(self, tmp_path, monkeypatch):
        monkeypatch.setattr("support.doc_runner.EXPECT_TIMEOUT", 1.0)
        monkeypatch.setitem(READY, ("slow-tail",), "ready")
        session = DocSession(tmp_path, tmp_path)
        text = "<!-- docs-test: run; expect: order.created -->\n```bash\nslow-tail\n```\n"
        (block,) = shell_blocks(text, "x.md")
        fake = tmp_path / "bin"
        fake.mkdir()
        (fake / "slow-tail").write_text("#!/bin/sh\necho ready\nexec sleep 60\n")
        (fake / "slow-tail").chmod(0o755)
        monkeypatch.setenv("PATH", f"{fake}:{os.environ['PATH']}")

        try:
            with pytest.raises(AssertionError, match="no long-running command printed"):
                session.run_block(block)
        finally:
            session.stop()


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DocSession]:
    """A fresh clone of HEAD, set up as the docs say; its long-running commands stopped at the end."""
    started = time.monotonic()
    docs = DocSession.fresh(tmp_path_factory.mktemp("docs"))
    try:
        assert not (docs.root / ".venv").exists()
        assert not (docs.root / ".tools").exists()
        docs.run_block(SETUP)
        assert (docs.root / ".venv" / "bin" / "fanout").is_file()
        yield docs
    finally:
        docs.stop()
        print(f"\ndocs test: {time.monotonic() - started:.1f} s wall")  # noqa: T201 - shown with -s
        for ran in docs.ran:
            print(f"  {ran.seconds:6.1f} s  {ran.where}  {ran.command[:90]}")  # noqa: T201


@pytest.mark.parametrize("doc", SELECTED)
def test_the_run_blocks_of_each_document_run(session: DocSession, doc: str):
    for block in BLOCKS[doc]:
        if block.kind == "run":
            session.run_block(block)
