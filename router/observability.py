"""Logging and tracing, configured once per container.

Logs are the hub's JSON lines, written as ``hubcommon.logs.configure_logging``
sets them up (named here too for whatever configures a router process). Tracing
patches botocore through aws-xray-sdk so SNS, SQS and S3 calls appear under the
function's segment; with no daemon or segment (``sam local invoke``, tests) a
missing context is ignored, never raised.
"""

from __future__ import annotations

import os

from hubcommon.logs import configure_logging

__all__ = ["configure_logging", "configure_tracing"]


def configure_tracing() -> bool:
    """Patch botocore for X-Ray unless ``AWS_XRAY_SDK_ENABLED`` is false; True when patched."""
    if os.environ.get("AWS_XRAY_SDK_ENABLED", "true").lower() in ("false", "0", "no"):
        return False
    from aws_xray_sdk.core import patch, xray_recorder  # noqa: PLC0415 - only when tracing is on

    xray_recorder.configure(context_missing="IGNORE_ERROR")
    patch(["botocore"])
    return True
