"""The JSON log line both deployed functions write: one format for operations tooling.

One JSON object per line on stdout (Lambda ships stdout to CloudWatch Logs):
``event`` (a snake_case fact), ``level``, ``timestamp`` (ISO 8601, UTC), the
bound context (``consumer``, ``table``, ``sequence``...) and, for an error, the
exception as structured data under ``exception``. Non-ASCII text is written as
is; a value JSON cannot hold is written as its ``str``.
"""

from __future__ import annotations

import logging
from typing import Literal

import structlog

# The levels a function's LOG_LEVEL may name (``logging``'s names).
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]

_configured_level: str | None = None


def configure_logging(level: LogLevel = "INFO") -> None:
    """JSON logs at ``level``; call at cold start.

    Calling again with the same level changes nothing, so a rebuilt function
    (or a test's ``structlog.testing.capture_logs()``) keeps its configuration.
    """
    global _configured_level  # noqa: PLW0603 - one process-wide configuration, set at cold start
    if _configured_level == level and structlog.is_configured():
        return
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.dict_tracebacks,
            structlog.processors.JSONRenderer(ensure_ascii=False, default=str),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelNamesMapping()[level]),
        # No file given: each logger writes to sys.stdout as it is when the logger
        # is made, so a replaced stdout (pytest's capsys) is honoured.
        logger_factory=structlog.PrintLoggerFactory(),
        # Not cached: a cached logger ignores later reconfiguration, which breaks
        # structlog.testing.capture_logs(); resolving it costs microseconds per call.
        cache_logger_on_first_use=False,
    )
    _configured_level = level
