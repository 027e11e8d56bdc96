"""The JSON log line both deployed functions write: one format for operations tooling.

One JSON object per line on stdout (Lambda ships stdout to CloudWatch Logs):
``event`` (a snake_case fact), ``level`` (Lambda's level name in lower case:
``debug``, ``info``, ``warn``, ``error``, ``fatal``), ``timestamp`` (ISO 8601, UTC), the
bound context (``consumer``, ``table``, ``sequence``...) and, for an error, the
exception as structured data under ``exception``. Non-ASCII text is written as
is; a value JSON cannot hold is written as its ``str``.
"""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from typing import Any, Final, Literal

import structlog
import structlog.tracebacks

# The levels a function's LOG_LEVEL may name (``logging``'s names).
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]

_configured_level: str | None = None

LAMBDA_LEVELS: Final = {"warning": "warn", "critical": "fatal"}
"""structlog's level names Lambda does not know, as the Lambda level they mean.

With the JSON log format Lambda filters application logs by the line's ``level``,
one of TRACE, DEBUG, INFO, WARN, ERROR, FATAL; "If the "level" value field is invalid
or missing, Lambda will assign the log output the level INFO", so a ``warning`` line
would be dropped at ApplicationLogLevel WARN. Lambda's own example writes the name in
lower case (``"level": "debug"``), so the hub keeps lower case.
https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-log-level.html
"""


def lambda_level(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: the rendered ``level`` as Lambda's level name.

    Runs just before rendering, so ``structlog.testing.capture_logs()`` (which replaces
    the processors) still records structlog's ``log_level``.
    """
    level = event_dict.get("level")
    if isinstance(level, str):
        event_dict["level"] = LAMBDA_LEVELS.get(level, level)
    return event_dict


# Libraries whose DEBUG lines carry request parameters: botocore logs every call's
# body (a PublishBatch holds envelopes, a dead letter's SendMessage the whole record).
SDK_LOGGERS: Final = ("boto3", "botocore", "s3transfer", "urllib3")


def quiet_sdk_loggers() -> None:
    """Hold the AWS SDK's loggers at WARNING whatever the function's level.

    With the JSON log format Lambda passes on application lines at or above the
    function's ApplicationLogLevel, so LOG_LEVEL=DEBUG would otherwise ship botocore's
    request dumps, item values included, to CloudWatch Logs.
    https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-log-level.html
    """
    for name in SDK_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def configure_logging(level: LogLevel = "INFO") -> None:
    """JSON logs at ``level``; call at cold start.

    Calling again with the same level changes nothing, so a rebuilt function
    (or a test's ``structlog.testing.capture_logs()``) keeps its configuration.
    """
    global _configured_level  # noqa: PLW0603 - one process-wide configuration, set at cold start
    quiet_sdk_loggers()
    if _configured_level == level and structlog.is_configured():
        return
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            # Frames without their locals: a local may hold an item or a message body,
            # and no item value may reach a log line (structlog shows locals by default).
            structlog.processors.ExceptionRenderer(
                structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
            ),
            lambda_level,
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
