"""The deployer's errors."""

from __future__ import annotations


class StackError(RuntimeError):
    """The template cannot be deployed as asked (a rule failed, a shape is unsupported)."""


class NotLocalEndpointError(StackError):
    """The endpoint is not a local one: an AWS account is deployed to with ``sam deploy``."""
