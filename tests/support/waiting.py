"""Wait for asynchronous work by polling with a deadline (never a fixed sleep).

The deadline only matters when the work never happens: a passing test returns as soon
as its condition holds. So it is generous, far above what a loaded 2-core machine needs,
and a slow machine never fails a test that would pass.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

DEFAULT_TIMEOUT = 60.0
POLL_SECONDS = 0.05


def eventually(probe: Callable[[], Any], timeout: float = DEFAULT_TIMEOUT, what: str = "") -> Any:
    """``probe()`` once it is truthy; fails the test at ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := probe():
            return value
        time.sleep(POLL_SECONDS)
    pytest.fail(f"not within {timeout}s: {what or probe}")
