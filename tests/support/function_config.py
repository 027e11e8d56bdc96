"""Changing a deployed function's configuration on the local hub, as a stack update does."""

from __future__ import annotations

from typing import cast

from fanout.local.hub import LocalHub


def update_environment(hub: LocalHub, function_name: str, **variables: str) -> None:
    """Set ``variables`` in the function's environment; its next invocation is a cold start.

    What a stack update that changes only a parameter feeding the function's environment
    does: UpdateFunctionConfiguration, after which "Lambda provisions an instance of the
    function and its supporting resources", so the code reads its settings again
    (https://docs.aws.amazon.com/lambda/latest/api/API_UpdateFunctionConfiguration.html).
    The emulator holds each function's configuration in its deployment and invokes with
    it, so the change is made there and the warm container dropped.
    """
    spec = hub.deployment.function(function_name)
    cast("dict[str, str]", spec.environment).update(variables)
    hub.invoker.recycle(spec.name)
