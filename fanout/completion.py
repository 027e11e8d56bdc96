"""``fanout completion bash|zsh|tcsh``: the shell's completion script for every command and flag.

The script is generated from the same parser ``fanout`` runs (``fanout.cli.build_parser``)
by shtab, so a new command or flag is completed as soon as it exists; nothing is
written by hand. Installing it is one line per shell (docs/cli.md, "Shell completion").
https://github.com/tqdm/shtab
"""

from __future__ import annotations

import argparse
from typing import Any, Final

SHELLS: Final = ("bash", "zsh", "tcsh")


def script(shell: str) -> str:
    """The completion script of the whole ``fanout`` command for ``shell``."""
    import shtab  # noqa: PLC0415 - only when a script is asked for

    from fanout.cli import build_parser  # noqa: PLC0415 - fanout.cli imports this module's register

    # `shell` names the script's dialect; no shell or process is started.
    return str(shtab.complete(build_parser(), shell=shell))  # nosec B604


def _run(args: argparse.Namespace) -> int:
    print(script(args.shell), end="")
    return 0


def register(subcommands: Any) -> None:
    """Add ``completion``."""
    completion = subcommands.add_parser(
        "completion",
        help="print the shell completion script (bash, zsh or tcsh)",
        description="Print the completion script of every fanout command and flag for a shell."
        " Install it as docs/cli.md says, e.g. for bash: fanout completion bash >"
        " ~/.local/share/bash-completion/completions/fanout",
    )
    completion.add_argument("shell", choices=SHELLS, help="the shell: " + ", ".join(SHELLS))
    completion.set_defaults(run=_run)
