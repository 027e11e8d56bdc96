"""Logging and tracing, configured once per container.

Logs are structlog JSON lines. Tracing patches botocore through aws-xray-sdk so
SNS, SQS and S3 calls appear under the function's segment; with no daemon or
segment (``sam local invoke``, tests) a missing context is ignored, never raised.
"""

from __future__ import annotations

import logging
import os

import structlog

_configured = False


def configure_logging(level: str = "INFO") -> None:
    """JSON logs at ``level``; idempotent."""
    global _configured  # noqa: PLW0603 - one process-wide configuration, set at cold start
    if _configured:
        return
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.dict_tracebacks,
            structlog.processors.JSONRenderer(ensure_ascii=False),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelNamesMapping()[level]),
        # Not cached: a cached logger ignores later reconfiguration, which breaks
        # structlog.testing.capture_logs(); resolving it costs microseconds per call.
        cache_logger_on_first_use=False,
    )
    _configured = True


def configure_tracing() -> bool:
    """Patch botocore for X-Ray unless ``AWS_XRAY_SDK_ENABLED`` is false; True when patched."""
    if os.environ.get("AWS_XRAY_SDK_ENABLED", "true").lower() in ("false", "0", "no"):
        return False
    from aws_xray_sdk.core import patch, xray_recorder  # noqa: PLC0415 - only when tracing is on

    xray_recorder.configure(context_missing="IGNORE_ERROR")
    patch(["botocore"])
    return True
