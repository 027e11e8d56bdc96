"""Shared fixtures: no test ever reaches real AWS."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

import pytest

# Set before any boto3 client exists anywhere in the session (moto's own advice).
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SECURITY_TOKEN": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "AWS_XRAY_SDK_ENABLED": "false",
    }
)
for _var in ("AWS_PROFILE", "AWS_ENDPOINT_URL"):
    os.environ.pop(_var, None)

# A `fanout local up` the developer has running must not answer the tests' commands: its
# state file (fanout.local.hub.STATE_FILE) lives in the temp directory, so each test
# process gets its own, and the hubs the tests start write theirs there too.
_SESSION_TMP = tempfile.mkdtemp(prefix="fanout-tests-")
os.environ["TMPDIR"] = _SESSION_TMP
tempfile.tempdir = None  # tempfile reads TMPDIR again
atexit.register(shutil.rmtree, _SESSION_TMP, ignore_errors=True)

# Nor may the developer's FANOUT_* settings steer them (the shared options' variables).
from fanout.options import ENVIRONMENT  # noqa: E402 - after the temp directory above

for _var in ENVIRONMENT.values():
    os.environ.pop(_var, None)

# moto in decorator mode (``mock_aws``) gets what the local hub's moto server gets:
# cross-account SNS delivery and Parameter Store shares (fanout/local/server.py).
from fanout.local.server import prepare_moto  # noqa: E402 - after the environment above

prepare_moto()

# Keep boto3's default session between mocks: moto replaces it on every mock_aws() by
# default, so each test's boto3.client() re-read the service models (an S3 client cost
# ~140 ms instead of ~8). The credentials it would reset are the fixed ones above.
# http://docs.getmoto.org/en/latest/docs/configuration/index.html
from moto.core.config import default_user_config  # noqa: E402 - after the environment above

default_user_config["core"]["reset_boto3_session"] = False


@pytest.fixture
def aws():
    """moto's mock of every AWS service, active for the test."""
    from moto import mock_aws

    with mock_aws():
        yield


# The modules that cost the most, heaviest first: seconds summed per file from
# `pytest -n 2 --dist loadfile --durations=0` (2026-12-07). `make unit` runs each
# module whole on one worker (its module fixtures are built once) and deals modules out
# in collection order as workers free up; starting with the heaviest keeps one of them
# from being dealt last and running alone while the other workers idle.
HEAVIEST_FIRST = (
    "tests/integration/test_docs_commands.py",
    "tests/e2e/test_other_team.py",
    "tests/unit/consumers/test_webhook_hostile_endpoints.py",
    "tests/e2e/test_no_loss_under_faults.py",
    "tests/e2e/test_fifo_hub.py",
    "tests/integration/test_template_build.py",
    "tests/e2e/test_local_hub.py",
    "tests/e2e/test_ops_backfill.py",
    "tests/e2e/test_local_access.py",
    "tests/e2e/test_item_contracts.py",
    "tests/integration/test_sam_local_invoke_env.py",
    "tests/unit/consumers/test_consumer_scaffold.py",
    "tests/integration/test_router.py",
    "tests/integration/test_stack_deploy.py",
    "tests/security/test_consumer_bad_input.py",
    "tests/integration/test_consumer_bench.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the heaviest modules first; every other test keeps its collection order."""
    rank = {path: n for n, path in enumerate(HEAVIEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))
