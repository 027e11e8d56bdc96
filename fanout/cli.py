"""The ``fanout`` command: developer tooling for the hub (never deployed).

Each command group lives in its own module exposing ``register(subcommands)``,
which adds its parsers and sets ``run`` (a function of the parsed arguments
returning the exit code). Adding a command group is one line in
``COMMAND_MODULES``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable, Sequence
from importlib import metadata
from typing import Final

from fanout.options import (
    EXIT_FAILED,
    EXIT_USAGE,
    OperationError,
    Parser,
    UsageError,
    fail,
    is_sdk_error,
    sdk_failure,
)

COMMAND_MODULES: Final = (
    "fanout.local.cli",  # fanout local up | put | invoke | deploy-consumer
    "fanout.tail",  # fanout tail
    "fanout.scaffold",  # fanout consumer new
    "fanout.ops.cli",  # fanout status | dlq | replay | backfill
    "fanout.cost",  # fanout cost
    "fanout.env_vars",  # fanout env-vars
    "fanout.kit",  # fanout kit publish
    "fanout.schema.cli",  # fanout schema check | consumers
    "fanout.completion",  # fanout completion bash | zsh | tcsh
)


def version() -> str:
    """This tool's version and the consumer runtime's it ships (the runtime wheel's)."""
    from consumers.runtime import __version__ as runtime  # noqa: PLC0415 - only for --version

    return f"fanout {metadata.version('fanout-hub')} (consumer runtime {runtime})"


class _VersionAction(argparse.Action):
    """``--version``: looks the versions up only when asked (the runtime imports pydantic)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: object) -> None:
        super().__init__(
            option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=str(kwargs.get("help"))
        )

    def __call__(self, parser: argparse.ArgumentParser, *_: object) -> None:
        print(version())
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    """The parser with every registered command group."""
    parser = Parser(
        prog="fanout",
        description="Developer tooling for fanout-hub. Exit codes: 0 done, 1 the operation "
        "failed, 2 a usage error or something named that does not exist (docs/cli.md).",
    )
    parser.add_argument(
        "--version",
        action=_VersionAction,
        help="show the tool's and the consumer runtime's version",
    )
    subcommands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subcommands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the arguments and run the chosen command; returns the exit code."""
    args = build_parser().parse_args(argv)  # SystemExit 2 on a usage error (one line)
    try:
        code = outcome(lambda: int(args.run(args)))
        sys.stdout.flush()  # inside the try: a closed pipe fails here, not at exit
    except BrokenPipeError:
        # The reader went away (`fanout cost | head`): what it read is all it wanted.
        # Point stdout at devnull so the interpreter's final flush does not fail too.
        # https://docs.python.org/3/library/signal.html#note-on-sigpipe
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        return fail("fanout", "interrupted", 130)
    return code


def outcome(run: Callable[[], int]) -> int:
    """``run()``'s exit code, or the convention's for what a command raises (one line on stderr).

    A usage error (``UsageError``) is exit 2, a failed operation (``OperationError``)
    exit 1; whatever a command leaves uncaught from the AWS SDK (no credentials, an
    endpoint that does not answer, a refused call) is exit 1 too, not a traceback.
    """
    try:
        return run()
    except UsageError as exc:
        return fail("fanout", exc, EXIT_USAGE)
    except OperationError as exc:
        return fail("fanout", exc, EXIT_FAILED)
    except Exception as exc:
        if isinstance(exc, BrokenPipeError) or not is_sdk_error(exc):
            raise
        return sdk_failure("fanout", exc)


if __name__ == "__main__":
    sys.exit(main())
