"""A reader that stops early (`fanout cost | head -3`) gets no traceback and a clean exit."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from support.fresh_clone import ROOT


@pytest.mark.parametrize(
    "argv",
    [
        ["cost", "--events-per-day", "1000000", "--item-kb", "1"],
        ["cost", "--events-per-day", "1000000", "--item-kb", "1", "--json"],
    ],
)
def test_a_closed_pipe_ends_the_command_quietly(argv):
    # GIVEN a pipe whose reader has already gone
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        # WHEN the command writes its output to it
        done = subprocess.run(  # noqa: S603 - the interpreter running this test, fixed arguments
            [sys.executable, "-m", "fanout.cli", *argv],
            stdout=write_end,
            stderr=subprocess.PIPE,
            cwd=ROOT,
            timeout=60,
            check=False,
        )
    finally:
        os.close(write_end)
    # THEN it exits 0 with nothing on stderr
    assert (done.returncode, done.stderr.decode()) == (0, "")
