"""The `fanout ...` commands the docs show: in fenced blocks and in inline code."""

from __future__ import annotations

import argparse
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = (
    ROOT / "README.md",
    *sorted((ROOT / "docs").glob("*.md")),
    ROOT / "examples" / "other-team" / "README.md",
)
INLINE = re.compile(r"`(fanout\s[^`]*)`")
FENCE = re.compile(r"^\s*```")
SHELL_OPERATORS = frozenset({">", ">>", "<", "|", "&&", "||", ";", "&", "2>", "2>&1"})


@dataclass(frozen=True)
class DocCommand:
    """One `fanout` command as a doc shows it."""

    where: str
    text: str
    in_block: bool
    """A line of a fenced block (a command as typed) rather than inline code (may hold placeholders)."""

    def words(self) -> list[str]:
        """Its arguments after ``fanout`` (shell-split; a placeholder such as ``[--x N]`` kept as words)."""
        try:
            words = shlex.split(self.text, comments=self.in_block)
        except ValueError:
            words = self.text.split()
        if self.in_block:  # the command ends where the shell takes over: `fanout x > file`
            ends = [i for i, word in enumerate(words) if word in SHELL_OPERATORS]
            words = words[: ends[0]] if ends else words
        return words[1:]


def _block_lines(lines: list[str]) -> Iterator[tuple[int, str]]:
    """Each logical line of the fenced blocks (``\\`` continuations joined), with its number."""
    inside = False
    pending: tuple[int, str] | None = None
    for number, line in enumerate(lines, 1):
        if FENCE.match(line):
            inside = not inside
            continue
        if not inside:
            continue
        start, text = pending or (number, "")
        text += line.rstrip()
        if text.endswith("\\"):
            pending = (start, text[:-1] + " ")
            continue
        pending = None
        yield start, text


def doc_commands() -> list[DocCommand]:
    """Every `fanout ...` command in README.md, docs/*.md and the other-team example's README."""
    found: list[DocCommand] = []
    for doc in DOCS:
        lines = doc.read_text(encoding="utf-8").splitlines()
        name = doc.relative_to(ROOT).as_posix()
        for number, text in _block_lines(lines):
            command = re.sub(r"^\s*\$\s+", "", text).strip()
            if command.startswith("fanout "):
                found.append(DocCommand(f"{name}:{number}", command, in_block=True))
        inside = False
        for number, line in enumerate(lines, 1):
            if FENCE.match(line):
                inside = not inside
                continue
            if not inside:
                found.extend(
                    DocCommand(f"{name}:{number}", match, in_block=False)
                    for match in INLINE.findall(line)
                )
    return found


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """The parser's subcommands by name (empty for a leaf command)."""
    # argparse keeps its subcommands and options in private attributes only.
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def options(parser: argparse.ArgumentParser) -> set[str]:
    """Every option string the parser takes (``--json``, ``-h``...)."""
    return set(parser._option_string_actions)


def unknown_words(words: list[str], parser: argparse.ArgumentParser) -> list[str]:
    """What of ``words`` is not a subcommand or option of the ``fanout`` parser (empty: all real).

    Walks the subcommands the words name, then checks every ``--option`` against the
    command reached. Placeholders (``NAME``, ``[--to QUEUE]``) are allowed as values.
    """
    wrong: list[str] = []
    rest = list(words)
    while choices := subcommands(parser):
        positional = next((w for w in rest if not w.startswith("-")), None)
        if positional is None:  # the group itself (`fanout replay`), or `fanout --version`
            break
        if positional not in choices:
            return [*wrong, f"{positional!r} is not one of {sorted(choices)}"]
        flags_before = rest[: rest.index(positional)]
        wrong += [f for f in _flags(flags_before) if f not in options(parser)]
        parser = choices[positional]
        rest = rest[rest.index(positional) + 1 :]
    return wrong + [f for f in _flags(rest) if f not in options(parser)]


def _flags(words: list[str]) -> list[str]:
    flags = (w.strip("[]").split("=", 1)[0] for w in words)
    return [f for f in flags if f.startswith("-") and f not in {"-", "--"} and f[1:2] != " "]


# ---------------------------------------------------------------------------- shell blocks

SHELL_LANGUAGES = frozenset({"bash", "sh", "shell", "console", "zsh"})
MARKER = re.compile(r"^<!--\s*docs-test:\s*(?P<kind>[a-z]+)\s*(?P<rest>.*?)\s*-->\s*$")
MARKED_DOCS = (ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")))
"""The documents whose every shell block must be marked to run or illustrative."""


@dataclass(frozen=True)
class ShellBlock:
    """A fenced block of commands a reader may type, and how the docs test treats it.

    Marked on the line before its fence: ``<!-- docs-test: run -->`` (optionally
    ``run; expect: TEXT``, repeatable: a long-running command of the block prints
    TEXT) or ``<!-- docs-test: illustrative: WHY -->`` (never run, and why not).
    """

    where: str
    language: str
    lines: tuple[str, ...]
    kind: str | None
    """``run``, ``illustrative`` or None (unmarked)."""
    reason: str = ""
    expect: tuple[str, ...] = ()

    def commands(self) -> list[str]:
        """The commands as typed: ``\\`` continuations joined; in a console block, ``$`` lines."""
        out: list[str] = []
        for _, text in _block_lines(["```", *self.lines, "```"]):
            if self.language == "console":
                if text.startswith("$ "):
                    out.append(text[2:].strip())
            elif text.strip() and not text.lstrip().startswith("#"):
                out.append(text.strip())
        return out


def _is_shell(language: str, lines: list[str]) -> bool:
    return language in SHELL_LANGUAGES or (
        not language and any(line.startswith("$ ") for line in lines)
    )


def _marker(line: str) -> tuple[str | None, str, tuple[str, ...]]:
    match = MARKER.match(line.strip())
    if match is None:
        return None, "", ()
    kind, rest = match["kind"], match["rest"]
    if kind == "illustrative":
        return kind, rest.lstrip(":").strip(), ()
    parts = [p.strip() for p in rest.split(";") if p.strip()]
    expect = tuple(p.removeprefix("expect:").strip() for p in parts if p.startswith("expect:"))
    return kind, "", expect


def shell_blocks(text: str, name: str) -> list[ShellBlock]:
    """Every shell block of a Markdown text (bash, sh, console... or untagged with ``$`` lines)."""
    lines = text.splitlines()
    blocks: list[ShellBlock] = []
    start: int | None = None
    for number, line in enumerate(lines):
        if not FENCE.match(line):
            continue
        if start is None:
            start = number
            continue
        language = lines[start].strip().removeprefix("```").strip().split(" ")[0].lower()
        body = lines[start + 1 : number]
        if _is_shell(language, body):
            language = language or "console"  # untagged, with `$ ` prompts: a console session
            before = next((lines[i] for i in range(start - 1, -1, -1) if lines[i].strip()), "")
            kind, reason, expect = _marker(before)
            blocks.append(
                ShellBlock(f"{name}:{start + 1}", language, tuple(body), kind, reason, expect)
            )
        start = None
    return blocks


def marked_blocks() -> dict[str, list[ShellBlock]]:
    """The shell blocks of README.md and docs/*.md, by document."""
    return {
        doc.relative_to(ROOT).as_posix(): shell_blocks(
            doc.read_text(encoding="utf-8"), doc.relative_to(ROOT).as_posix()
        )
        for doc in MARKED_DOCS
    }
