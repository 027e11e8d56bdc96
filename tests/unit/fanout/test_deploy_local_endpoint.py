"""The local deployer creates stacks on this machine only: an account is deployed to with ``sam deploy``.

The refusal comes before any call, so nothing is created in an account by mistake
(``fanout.deploy.deployer.require_local_endpoint``).
"""

from __future__ import annotations

import pytest

from fanout.cli import main
from fanout.connection import Connection
from fanout.deploy.deployer import deploy, require_local_endpoint
from fanout.deploy.exceptions import NotLocalEndpointError, StackError

# An address of TEST-NET-1 (RFC 5737): never this machine, never answered.
REMOTE = "http://192.0.2.10:4566"


class TestLocalEndpoints:
    """moto (server or in-process) and LocalStack on this machine are deployed to."""

    @pytest.mark.parametrize(
        "url", ["http://127.0.0.1:5000", "http://localhost:4566", "http://[::1]:4566"]
    )
    def test_an_endpoint_on_a_loopback_address_is_local(self, url):
        require_local_endpoint(Connection(endpoint_url=url, region="us-east-1"))

    def test_the_default_endpoint_under_moto_mock_aws_is_local(self, aws):
        require_local_endpoint(Connection(region="us-east-1"))


class TestOtherEndpoints:
    """Any other endpoint is refused with one line naming it and ``sam deploy``."""

    def test_the_default_endpoint_outside_moto_is_aws_and_refused(self):
        with pytest.raises(NotLocalEndpointError) as refused:
            require_local_endpoint(Connection(region="us-east-1"))
        message = str(refused.value)
        assert message.startswith("https://sts.")
        assert ".amazonaws.com is not a local endpoint" in message
        assert "`sam deploy`" in message
        assert "\n" not in message

    def test_an_endpoint_on_another_machine_is_refused(self):
        with pytest.raises(
            NotLocalEndpointError, match=r"^http://192\.0\.2\.10:4566 is not a local"
        ):
            require_local_endpoint(Connection(endpoint_url=REMOTE, region="us-east-1"))

    def test_deploy_refuses_it_as_a_stack_error(self):
        # A StackError: every command that deploys already reports those in one line.
        with pytest.raises(StackError, match="is not a local endpoint"):
            deploy(endpoint_url=REMOTE)

    def test_local_up_says_so_in_one_line_and_exits_2(self, capsys):
        code = main(["local", "up", "--demo", "--endpoint-url", REMOTE, "--logs", "-"])
        err = capsys.readouterr().err
        assert code == 2
        refusal = (
            f"fanout local up: {REMOTE} is not a local endpoint: the local deployer creates"
            " stacks on moto or LocalStack on this machine only; deploy to an AWS account"
            " with `sam deploy`"
        )
        assert err.splitlines() == [refusal]

    def test_local_invoke_says_so_in_one_line_and_exits_2(self, capsys, tmp_path):
        event = tmp_path / "event.json"
        event.write_text("{}")
        code = main(
            ["local", "invoke", "RouterFunction", "--event", str(event), "--endpoint-url", REMOTE]
        )
        err = capsys.readouterr().err
        assert code == 2
        assert len(err.splitlines()) == 1
        assert err.startswith(f"fanout local invoke: {REMOTE} is not a local endpoint")
