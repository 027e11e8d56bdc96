"""The error a refused configuration raises: AWS's error code and message, and where it is."""

from __future__ import annotations


class AwsRuleError(ValueError):
    """AWS documents this configuration as invalid and would refuse to create it.

    ``code`` is the error code AWS returns; ``message`` is AWS's text where it is
    recorded, else the documented rule phrased by us (each rule's docstring says which,
    and gives the page that states the rule); ``resource`` is the template path of
    the resource that breaks it, e.g. ``AuditLogConsumer/ConsumerFunctionQueue``.
    """

    def __init__(self, code: str, message: str, resource: str, doc: str) -> None:
        self.code = code
        self.message = message
        self.resource = resource
        self.doc = doc
        super().__init__(f"{code}: {message} ({resource})")
