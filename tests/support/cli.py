"""Run a `fanout` command in-process with its own output streams.

The e2e modules run the local hub in the same process: its consumers write their
logs and metrics to ``sys.stdout`` from the emulator's threads, and pytest swaps
``sys.stdout`` at every test phase, so capturing a command's JSON through capsys
can pick up a consumer's line. The command's ``Output`` is given its own streams.
"""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from fanout.cli import build_parser, main, outcome
from fanout.ops.output import Output


@dataclass(frozen=True)
class Ran:
    """A command's exit code and what it printed."""

    code: int
    out: str
    err: str

    def document(self) -> Any:
        """The ``--json`` document on stdout (None when nothing was printed)."""
        return json.loads(self.out) if self.out.strip() else None

    @property
    def first_error_line(self) -> str:
        """The first line on stderr ("" when none)."""
        return next(iter(self.err.splitlines()), "")


def run_fanout(argv: Sequence[str], *, json_mode: bool | None = None) -> Ran:
    """Parse ``argv`` as the ``fanout`` CLI does and run it with captured output.

    Errors a command raises end as ``fanout.cli.main`` ends them (``outcome``): one line
    on the captured stderr and the convention's exit code.
    """
    args = build_parser().parse_args(list(argv))
    out, err = io.StringIO(), io.StringIO()
    mode = args.json if json_mode is None else json_mode
    with contextlib.redirect_stderr(err):
        code = outcome(lambda: int(args.run(args, Output(json_mode=mode, out=out, err=err))))
    return Ran(code, out.getvalue(), err.getvalue())


def run_main(argv: Sequence[str]) -> Ran:
    """Run ``fanout.cli.main`` as the shell would (usage errors included), capturing its output."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(argv))
        except SystemExit as exc:  # argparse: --help, or a usage error (already printed)
            code = exc.code if isinstance(exc.code, int) else 1
    return Ran(code, out.getvalue(), err.getvalue())
