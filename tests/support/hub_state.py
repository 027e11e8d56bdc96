"""State files of `fanout local up` for tests: a live one, a dead process's, a silent endpoint's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from fanout.local.server import LOOPBACK, free_port


def dead_pid() -> int:
    """The id of a process that has exited (and been reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait(timeout=30)
    return child.pid


def silent_endpoint() -> str:
    """An endpoint nobody listens on."""
    return f"http://{LOOPBACK}:{free_port()}"


def write_state(
    path: Path, *, endpoint_url: str, pid: int | None = None, **more: Any
) -> dict[str, Any]:
    """Write a state file as `fanout local up` does (this process's pid unless given)."""
    state = {
        "pid": os.getpid() if pid is None else pid,
        "endpoint_url": endpoint_url,
        "region": "us-east-1",
        **more,
    }
    path.write_text(json.dumps(state))
    return state
