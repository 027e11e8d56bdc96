"""The error both deployed functions raise for a bad environment."""

from __future__ import annotations


class ConfigurationError(RuntimeError):
    """The function's environment is missing or has an invalid setting; the message names the variable.

    Raised at cold start. It fails the whole invocation rather than one record or
    message: nothing can succeed until the configuration is fixed.
    """
