"""With tracing on and no X-Ray daemon or segment (sam local invoke, tests), the router still routes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent(
    """
    import json, sys
    sys.path.insert(0, "tests")
    from moto import mock_aws
    import boto3
    with mock_aws():
        from support.builders import FakeContext, a_batch, a_stream_record
        sns, sqs, s3 = boto3.client("sns"), boto3.client("sqs"), boto3.client("s3")
        import os
        os.environ["TOPIC_ARN"] = sns.create_topic(Name="t")["TopicArn"]
        os.environ["ROUTER_DLQ_URL"] = sqs.create_queue(QueueName="d")["QueueUrl"]
        s3.create_bucket(Bucket="payloads-1")
        os.environ["PAYLOAD_BUCKET"] = "payloads-1"
        from router import app
        response = app.handler(a_batch(a_stream_record(), a_stream_record()), FakeContext())
        from aws_xray_sdk.core import xray_recorder
        import botocore.client
        print(json.dumps({"response": response,
                          "patched": hasattr(botocore.client.BaseClient._make_api_call, "__wrapped__")}))
    """
)


def test_router_routes_with_tracing_enabled_and_no_daemon():
    env = {**os.environ, "AWS_XRAY_SDK_ENABLED": "true", "AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1:9"}
    env.pop("AWS_XRAY_CONTEXT_MISSING", None)
    done = subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-c", SCRIPT],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["response"] == {"batchItemFailures": []}
    assert result["patched"] is True
    assert "SegmentNotFoundException" not in done.stderr
