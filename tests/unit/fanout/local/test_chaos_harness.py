"""The chaos harness's own parts: a reproducible workload and moto in a child process."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections import Counter

import boto3
import pytest

from fanout.chaos.workload import Mix, plan_operations
from fanout.local.server import MotoProcess


class TestPlanOperations:
    """The workload is a function of the size and the seed, nothing else."""

    def test_same_seed_same_workload(self) -> None:
        assert plan_operations(500, 7, Mix()) == plan_operations(500, 7, Mix())

    def test_other_seed_other_workload(self) -> None:
        assert plan_operations(500, 7, Mix()) != plan_operations(500, 8, Mix())

    def test_size_and_shares_are_kept(self) -> None:
        operations = plan_operations(1000, 7, Mix(poison=0.02, oversize=0.01, refused=0.03))
        kinds = Counter(kind for kind, _ in operations)
        assert len(operations) == 1000
        assert (kinds["poison"], kinds["oversize"], kinds["refused"]) == (20, 10, 30)
        assert kinds["session"] == kinds["expire"] == 20

    def test_every_item_is_inserted_before_it_changes(self) -> None:
        inserted: set[int] = set()
        for kind, item in plan_operations(1000, 7, Mix()):
            if kind == "insert":
                inserted.add(item)
            elif kind in {"update", "delete"}:
                assert item in inserted


class TestMotoProcess:
    """moto in a child process: a working endpoint while it runs, nothing once stopped."""

    def test_serves_aws_calls_until_stopped_and_stops_once(self) -> None:
        server = MotoProcess()
        url = server.start()
        try:
            sqs = boto3.client(
                "sqs",
                endpoint_url=url,
                region_name="us-east-1",
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
            )
            sqs.create_queue(QueueName="probe")
            assert [u.rsplit("/", 1)[-1] for u in sqs.list_queues()["QueueUrls"]] == ["probe"]
        finally:
            server.stop()
        server.stop()  # idempotent
        with pytest.raises(urllib.error.URLError):
            urllib.request.urlopen(f"{url}/moto-api/reset", timeout=2)  # noqa: S310 - loopback
