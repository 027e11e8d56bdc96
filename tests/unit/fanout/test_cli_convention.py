"""Every `fanout` command follows one convention: help on every flag, the same connection options."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

import pytest

from fanout.cli import build_parser
from fanout.options import (
    ENVIRONMENT,
    int_between,
    positive_float,
    positive_int,
    share,
)


def commands(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ("fanout",)
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """Every parser of the tree, with its command path."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from commands(sub, (*path, name))


def listed_subcommands(parser: argparse.ArgumentParser) -> dict[str, str | None]:
    """Each subcommand's help as its parent lists it."""
    return {
        choice.dest: choice.help
        for action in parser._actions
        if isinstance(action, argparse._SubParsersAction)
        for choice in action._choices_actions
    }


ALL = list(commands(build_parser()))
HUB_COMMANDS = {
    ("fanout", "status"),
    ("fanout", "dlq", "peek"),
    ("fanout", "dlq", "redrive"),
    ("fanout", "replay", "stream-failures"),
    ("fanout", "replay", "poison"),
    ("fanout", "backfill"),
    ("fanout", "tail"),
    ("fanout", "kit", "publish"),
    ("fanout", "env-vars"),
    ("fanout", "schema", "check"),
    ("fanout", "consumers"),
}
PRINTS_DATA = HUB_COMMANDS - {("fanout", "kit", "publish"), ("fanout", "env-vars")}


@pytest.mark.parametrize(
    ("path", "parser"), ALL, ids=lambda v: " ".join(v) if isinstance(v, tuple) else ""
)
def test_every_flag_and_subcommand_has_help(path, parser):
    # GIVEN a command WHEN its arguments are listed THEN each one says what it is for
    missing = [
        action.option_strings or action.dest
        for action in parser._actions
        if not isinstance(action, argparse._SubParsersAction) and not action.help
    ]
    missing += [name for name, text in listed_subcommands(parser).items() if not text]
    assert missing == [], f"{' '.join(path)}: no help for {missing}"


@pytest.mark.parametrize("path", sorted(HUB_COMMANDS), ids=" ".join)
def test_hub_commands_share_the_connection_options(path):
    parser = dict(ALL)[path]
    options = {o for action in parser._actions for o in action.option_strings}
    assert {"--stack-name", "--profile", "--region", "--endpoint-url"} <= options
    assert ("--json" in options) == (path in PRINTS_DATA)


def test_each_shared_option_names_its_environment_variable():
    parser = dict(ALL)[("fanout", "status")]
    helps = {action.dest: action.help for action in parser._actions}
    for dest, variable in ENVIRONMENT.items():
        assert variable in str(helps[dest])


def test_tail_takes_the_old_stack_flag_without_listing_it(capsys):
    parser = dict(ALL)[("fanout", "tail")]
    assert parser.parse_args(["--stack", "orders"]).stack_name == "orders"
    assert capsys.readouterr().err == "note: `fanout tail --stack` is now --stack-name\n"
    assert "--stack " not in parser.format_help()


class TestNumbers:
    """Out-of-range numbers are refused when the arguments are read."""

    @pytest.mark.parametrize(
        ("parse", "text"),
        [
            (positive_int, "0"),
            (positive_int, "-3"),
            (positive_int, "1.5"),
            (positive_float, "-1"),
            (positive_float, "inf"),
            (share, "2"),
            (share, "-0.1"),
            (share, "nan"),
            (share, "0"),
            (int_between(0, 43_200), "43201"),
        ],
    )
    def test_refused(self, parse, text):
        with pytest.raises(argparse.ArgumentTypeError):
            parse(text)

    @pytest.mark.parametrize(
        ("parse", "text", "value"),
        [(positive_int, "1", 1), (positive_float, "0.5", 0.5), (share, "1", 1.0)],
    )
    def test_accepted(self, parse, text, value):
        assert parse(text) == value
