"""The one convention every ``fanout`` command follows: its parser, its shared options, its errors.

- ``Parser`` reports a usage error as one line on stderr (exit 2), not argparse's usage block.
- ``connection_options()`` is the parent parser of every command that talks to AWS:
  ``--stack-name``, ``--profile``, ``--region``, ``--endpoint-url`` (and ``--json`` where
  the command prints data), each also read from a ``FANOUT_*`` environment variable; a
  flag beats the variable.
- ``where()`` decides where a command's calls go: the endpoint, profile or stack named,
  else the running ``fanout local up`` (its state file), else nowhere: ``NoHubError``,
  rather than quietly calling a real account.
- Number types (``positive_int``, ``share``, ...) refuse out-of-range values at parse time.

Exit codes: 0 done, 1 the operation failed, 2 a usage error or something named that
does not exist (``UsageError``).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, NoReturn, TypeVar

DEFAULT_STACK_NAME: Final = "fanout-hub"

ENVIRONMENT: Final = {
    "stack_name": "FANOUT_STACK_NAME",
    "profile": "FANOUT_PROFILE",
    "region": "FANOUT_REGION",
    "endpoint_url": "FANOUT_ENDPOINT_URL",
}
"""The variable each shared option is also read from."""

EXIT_FAILED: Final = 1
EXIT_USAGE: Final = 2


class UsageError(Exception):
    """A refusal of what the user asked for (bad input, or a named thing that does not exist): one line, exit 2."""


class OperationError(Exception):
    """The command could not do what it was asked (the message says why): one line, exit 1."""


class NoHubError(UsageError):
    """No local hub is running and nothing names another place to talk to."""


_INNERMOST: Final = "_fanout_innermost_parser"


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose usage errors are one line on stderr, exit 2.

    Sub-parsers inherit the class (``add_subparsers`` uses the parent's type).
    """

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: {message} (see {self.prog} --help)\n")

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        """Also note, on the namespace, the innermost parser left with arguments it did not know.

        A subcommand's parser runs inside its parent's, so the innermost one with leftovers
        notes itself first (``fanout --nope status`` is the top-level parser's stray flag).
        """
        parsed, extras = super().parse_known_args(args, namespace)
        if extras and not hasattr(parsed, _INNERMOST):
            setattr(parsed, _INNERMOST, self)
        return parsed, extras

    def parse_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> argparse.Namespace:
        """As argparse's, but a stray argument is reported by the subcommand it was given to.

        argparse reports it from the top-level parser (``fanout: unrecognized arguments``),
        whose help does not list the subcommand's flags.
        """
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:
            innermost: Parser = getattr(parsed, _INNERMOST, self)
            innermost.error(f"unrecognized arguments: {' '.join(extras)}")
        return parsed


class Renamed(argparse.Action):
    """An old spelling of a flag, still accepted with a note on stderr, hidden from ``--help``.

    ``parser.add_argument("--repo", dest="root", action=Renamed, new="--root",
    help=argparse.SUPPRESS)``.
    """

    def __init__(self, option_strings: list[str], dest: str, *, new: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, **kwargs)
        self.new = new

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        print(f"note: `{parser.prog} {option_string}` is now {self.new}", file=sys.stderr)
        setattr(namespace, self.dest, values)


# ---------------------------------------------------------------------------- numbers


Number = TypeVar("Number", int, float)


def _ranged(
    kind: Callable[[str], Number], what: str, accepts: Callable[[Number], bool]
) -> Callable[[str], Number]:
    """An argparse ``type``: ``kind`` of the text, refused unless finite and ``accepts`` it."""

    def parse(text: str) -> Number:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {what}, got {text}") from None
        if not math.isfinite(value) or not accepts(value):
            raise argparse.ArgumentTypeError(f"must be {what}, got {text}")
        return value

    return parse


positive_int = _ranged(int, "a whole number of at least 1", lambda value: value >= 1)
non_negative_int = _ranged(int, "a whole number of at least 0", lambda value: value >= 0)
positive_float = _ranged(float, "a number above 0", lambda value: value > 0)
non_negative_float = _ranged(float, "a number of at least 0", lambda value: value >= 0)
# A share of 0 would mean nothing at all, not "no limit".
share = _ranged(float, "a share above 0 and at most 1", lambda value: 0 < value <= 1)


def int_between(low: int, high: int) -> Callable[[str], int]:
    """A whole number from ``low`` to ``high``, both included."""
    return _ranged(int, f"a whole number from {low} to {high}", lambda value: low <= value <= high)


# ---------------------------------------------------------------------------- shared options


def _from_environment(dest: str) -> str | None:
    value = os.environ.get(ENVIRONMENT[dest], "").strip()
    return value or None


def connection_options(*, json: bool = False) -> argparse.ArgumentParser:
    """The parent parser of a command that talks to a hub: where it is, and ``--json`` if asked.

    Defaults are read from ``FANOUT_*`` when the parser is built (``fanout.cli.main``
    builds it for every run), so a flag given on the command line wins.
    """
    parent = Parser(add_help=False)
    group = parent.add_argument_group("where the hub is")
    group.add_argument(
        "--stack-name",
        default=_from_environment("stack_name"),
        metavar="NAME",
        help=f"the hub's stack (env FANOUT_STACK_NAME; default: {DEFAULT_STACK_NAME} on the "
        "running local hub)",
    )
    group.add_argument(
        "--profile",
        default=_from_environment("profile"),
        metavar="PROFILE",
        help="AWS profile of the account the hub is in (env FANOUT_PROFILE)",
    )
    group.add_argument(
        "--region",
        default=_from_environment("region"),
        metavar="REGION",
        help="AWS region (env FANOUT_REGION; default: the local hub's, else the profile's)",
    )
    group.add_argument(
        "--endpoint-url",
        default=_from_environment("endpoint_url"),
        metavar="URL",
        help="endpoint to call (env FANOUT_ENDPOINT_URL; default: the running local hub's, "
        "else AWS when --stack-name or --profile is given)",
    )
    if json:
        group.add_argument(
            "--json", action="store_true", help="print one JSON document on stdout (for scripts)"
        )
    return parent


# ---------------------------------------------------------------------------- where to call


@dataclass(frozen=True, slots=True)
class Where:
    """Where a command's calls go."""

    endpoint_url: str | None
    region: str | None
    profile: str | None
    stack_name: str
    local: Mapping[str, Any] | None
    """The running local hub's state when the calls go to it (None: another endpoint or AWS)."""


NO_HUB: Final = (
    "no local hub is running (start `fanout local up`) and no --stack-name, --profile or "
    "--endpoint-url (or FANOUT_*) names another: nothing to talk to"
)


def running_hub() -> dict[str, Any] | None:
    """The state file of a ``fanout local up`` that still runs; None otherwise (or a stale file)."""
    from fanout.local.hub import hub_alive, load_state  # noqa: PLC0415 - only when a hub is asked for

    state = load_state()
    if state is None or not hub_alive(state):
        return None
    return state


def where(args: argparse.Namespace, *, also_explicit: bool = False) -> Where:
    """The endpoint, region, profile and stack the shared options (or a running hub) name.

    With no endpoint and no profile, the running local hub is used; with none running
    either, a ``--stack-name`` alone means AWS (the SDK's default credentials), and with
    nothing at all ``NoHubError`` is raised. ``also_explicit``: the command was given
    something else that names a place (``tail --topic-arn``).
    """
    endpoint, region, profile = args.endpoint_url, args.region, args.profile
    stack_name = args.stack_name
    state: dict[str, Any] | None = None
    if endpoint is None and profile is None:
        state = running_hub()
        if state is not None:
            endpoint = str(state["endpoint_url"])
            region = region or state.get("region")
        elif stack_name is None and not also_explicit:
            raise NoHubError(NO_HUB)
    elif endpoint is not None and str(endpoint).startswith("http://"):
        # AWS endpoints are HTTPS: a plain-HTTP one may be the running local hub's.
        candidate = running_hub()
        if candidate is not None and candidate.get("endpoint_url") == endpoint:
            state = candidate
            region = region or candidate.get("region")
    return Where(endpoint, region, profile, stack_name or DEFAULT_STACK_NAME, state)


def fail(prog: str, message: object, code: int = EXIT_USAGE) -> int:
    """Print ``prog: message`` as one line on stderr; return ``code``."""
    text = " ".join(str(message).split())
    print(f"{prog}: {text}", file=sys.stderr)
    return code


def is_sdk_error(exc: BaseException) -> bool:
    """Whether ``exc`` is the AWS SDK's (a refused call, no credentials, no answer)."""
    from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415 - keep --help fast

    return isinstance(exc, ClientError | BotoCoreError)


def sdk_failure(prog: str, exc: BaseException) -> int:
    """One line for an AWS SDK error, exit 1: the call failed, whatever the cause."""
    from botocore.exceptions import (  # noqa: PLC0415 - keep `fanout --help` fast
        EndpointConnectionError,
        NoCredentialsError,
    )

    if isinstance(exc, NoCredentialsError):
        return fail(
            prog,
            "no AWS credentials found: start `fanout local up` for the local hub, or pass "
            "--profile (FANOUT_PROFILE) for an account",
            EXIT_FAILED,
        )
    if isinstance(exc, EndpointConnectionError):
        endpoint = str(exc.kwargs.get("endpoint_url") or "the endpoint").rstrip("/")
        return fail(prog, f"{endpoint} is not answering", EXIT_FAILED)
    return fail(prog, exc, EXIT_FAILED)
