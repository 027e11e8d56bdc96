"""`fanout local up` stops on Ctrl-C however it was started, and cleans up after itself."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from support.waiting import eventually

ROOT = Path(__file__).resolve().parents[4]


def test_a_hub_started_in_the_background_stops_on_sigint(tmp_path: Path):
    # GIVEN `fanout local up` started as a script's background job: the shell starts such
    # a job with SIGINT ignored (https://www.gnu.org/software/bash/manual/html_node/Signals.html)
    log = tmp_path / "hub.log"
    environment = {**os.environ, "TMPDIR": str(tmp_path)}  # its own state file
    with log.open("w") as out:
        hub = subprocess.Popen(
            [sys.executable, "-m", "fanout.cli", "local", "up", "--plain", "--logs", "-"],
            cwd=ROOT,
            env=environment,
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),  # noqa: PLW1509
        )
    try:
        eventually(lambda: "running;" in log.read_text(), timeout=90)
        state = tmp_path / "fanout-local-hub.json"
        assert state.exists()
        # WHEN it gets SIGINT (`kill -INT`, the Ctrl-C of a job with no terminal)
        started = time.monotonic()
        hub.send_signal(signal.SIGINT)
        # THEN it stops, successfully, and removes its state file
        assert hub.wait(timeout=30) == 0, log.read_text()
        assert time.monotonic() - started < 30
        assert not state.exists()
    finally:
        if hub.poll() is None:
            hub.kill()
            hub.wait()
