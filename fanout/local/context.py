"""A Lambda context object with the attributes the Python runtime provides.

https://docs.aws.amazon.com/lambda/latest/dg/python-context.html
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field

from fanout.local.model import FunctionSpec


@dataclass
class LocalContext:
    """What ``context`` is in a real invocation: names, limits and the time left."""

    function_name: str
    function_version: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    aws_request_id: str
    log_group_name: str
    log_stream_name: str
    deadline_monotonic: float
    identity: object | None = None
    client_context: object | None = None
    tenant_id: str | None = None
    _started: float = field(default_factory=time.monotonic)

    @classmethod
    def for_function(cls, function: FunctionSpec, request_id: str | None = None) -> LocalContext:
        """A fresh context whose clock starts now and ends at the function's Timeout."""
        now = time.monotonic()
        day = time.strftime("%Y/%m/%d", time.gmtime())
        return cls(
            function_name=function.name,
            function_version="$LATEST",
            invoked_function_arn=function.function_arn,
            memory_limit_in_mb=function.memory_mb,
            aws_request_id=request_id or str(uuid.uuid4()),
            log_group_name=f"/aws/lambda/{function.name}",
            log_stream_name=f"{day}/[$LATEST]{uuid.uuid4().hex}",
            deadline_monotonic=now + function.timeout_seconds,
            _started=now,
        )

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds before the function's Timeout, never negative."""
        return max(0, int((self.deadline_monotonic - time.monotonic()) * 1000))

    @property
    def elapsed_seconds(self) -> float:
        """Seconds since the invocation started."""
        return time.monotonic() - self._started
