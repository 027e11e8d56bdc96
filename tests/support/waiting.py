"""Wait for asynchronous work by polling with a deadline (never a fixed sleep)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest


def eventually(probe: Callable[[], Any], timeout: float = 20.0) -> Any:
    """``probe()`` once it is truthy; fails the test at ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := probe():
            return value
        time.sleep(0.1)
    pytest.fail(f"not within {timeout}s: {probe}")
