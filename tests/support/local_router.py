"""The router function answered in-process, for replay tests on moto without a local hub.

``fanout replay`` invokes the deployed router (``lambda:Invoke``); moto would need Docker
to run it. ``answering_router`` installs the local hub's own Lambda front
(``fanout.local.lambda_front``) so that an ``Invoke`` of ``ROUTER_NAME`` runs the real
``router.app.handler`` here with the given settings as its environment.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

from fanout.local.access import installed
from fanout.local.hub import LOCAL_TRACING_ENV
from fanout.local.invoker import InProcessInvoker
from fanout.local.lambda_front import LocalLambdaFront
from fanout.local.model import FunctionSpec

ROUTER_NAME: Final = "fanout-hub-router"


@contextmanager
def answering_router(topic_arn: str, dlq_url: str, payload_bucket: str) -> Iterator[FunctionSpec]:
    """Every botocore session created inside answers ``Invoke`` of ``ROUTER_NAME`` locally."""
    router = FunctionSpec(
        name=ROUTER_NAME,
        handler="router.app.handler",
        environment={
            "TOPIC_ARN": topic_arn,
            "ROUTER_DLQ_URL": dlq_url,
            "PAYLOAD_BUCKET": payload_bucket,
        },
        timeout_seconds=60,
        arn=f"arn:aws:lambda:us-east-1:123456789012:function:{ROUTER_NAME}",
    )
    front = LocalLambdaFront([router], InProcessInvoker(LOCAL_TRACING_ENV, region="us-east-1"))
    with installed(front.before_call):
        yield router
