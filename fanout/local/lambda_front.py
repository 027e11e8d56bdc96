"""Answer ``lambda:Invoke`` of the hub's own functions by running their real handlers here.

moto runs an invoked function in Docker, which the local hub does not have. So a
botocore ``before-call`` hook (installed on every session while the hub runs, see
``fanout.local.access.installed``) answers ``Invoke`` for a function the hub deployed:
the handler runs in-process through the hub's ``InProcessInvoker``, with the
function's deployed environment and its execution role's credentials, exactly as the
event source mapping emulator runs it. The answer has Lambda's shape:
https://docs.aws.amazon.com/lambda/latest/dg/API_Invoke.html

- ``StatusCode`` 200 and the handler's JSON response as ``Payload`` for
  ``RequestResponse``; a handler error is ``FunctionError: Unhandled`` with Lambda's
  ``errorMessage`` / ``errorType`` payload (the call itself still succeeds);
- a request payload over 6 MB is refused with ``RequestTooLargeException`` (413), as
  Lambda's quota says: https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html
- only ``RequestResponse`` is answered (the operations commands use nothing else);
  another invocation type is refused rather than pretended.

Authorization runs before this hook (``fanout.local.access.Authorizer``), so an
operator without ``lambda:InvokeFunction`` on the function never reaches it.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping, Sequence
from typing import Any, Final

from botocore.awsrequest import AWSResponse
from botocore.compat import HTTPHeaders
from botocore.exceptions import ClientError
from botocore.response import StreamingBody

from fanout.local.access import service_error
from fanout.local.invoker import Invoker
from fanout.local.model import FunctionSpec

SYNC_PAYLOAD_LIMIT: Final = 6 * 1024 * 1024
"""Lambda's synchronous invocation request (and response) payload quota, 6 MB."""


class LocalLambdaFront:
    """The ``before-call.lambda.Invoke`` answer for the hub's functions."""

    def __init__(self, functions: Sequence[FunctionSpec], invoker: Invoker) -> None:
        self._functions = list(functions)
        self._invoker = invoker

    def function(self, name: str) -> FunctionSpec | None:
        """The hub's function called ``name`` (name, ARN, or ARN with a qualifier)."""
        bare = name.split(":")[6] if name.startswith("arn:") else name
        return next((f for f in self._functions if bare in {f.name, f.arn}), None)

    def before_call(self, model: Any, context: Mapping[str, Any], **_: Any) -> Any:
        """Run the handler for an ``Invoke`` of one of the hub's functions; None otherwise."""
        if model.service_model.endpoint_prefix != "lambda" or model.name != "Invoke":
            return None
        params = context.get("fanout_api_params") or {}
        function = self.function(str(params.get("FunctionName", "")))
        if function is None:
            return None  # not the hub's: let the endpoint answer
        payload = params.get("Payload") or b"{}"
        raw = payload.encode() if isinstance(payload, str) else bytes(payload)
        if len(raw) > SYNC_PAYLOAD_LIMIT:
            raise _error(
                "RequestTooLargeException",
                f"Request must be smaller than {SYNC_PAYLOAD_LIMIT} bytes for the"
                " InvokeFunction operation",
                413,
            )
        invocation_type = params.get("InvocationType", "RequestResponse")
        if invocation_type != "RequestResponse":
            raise _error(
                "InvalidParameterValueException",
                f"the local hub answers RequestResponse invocations only, not {invocation_type}",
                400,
            )
        outcome = self._invoker.invoke(function, json.loads(raw))
        parsed: dict[str, Any] = {
            "StatusCode": 200,
            "ExecutedVersion": "$LATEST",
            "ResponseMetadata": {"HTTPStatusCode": 200, "RequestId": outcome.request_id},
        }
        if outcome.failed:
            parsed["FunctionError"] = "Unhandled"
            body = json.dumps(
                {
                    "errorMessage": outcome.error_message,
                    "errorType": outcome.error_type,
                    "stackTrace": outcome.stack,
                }
            ).encode()
        else:
            body = json.dumps(outcome.response).encode()
        parsed["Payload"] = StreamingBody(io.BytesIO(body), len(body))
        return AWSResponse(function.arn, 200, HTTPHeaders(), None), parsed


def _error(code: str, message: str, status: int) -> ClientError:
    return service_error(code, message, status, "Invoke")
