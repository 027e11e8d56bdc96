"""``fanout env-vars`` gives ``sam local invoke`` every function's real environment.

From a stack that ``fanout.deploy.deployer.deploy`` created in moto (``--stack-name``), and from
a running local hub's state file (``fanout local up``). Either way the router's
variables pass the router's own cold-start check and each consumer's pass the
consumer runtime's, where the built template's unresolved ``!Ref``s
(``TOPIC_ARN=Topic``) are refused.
"""

from __future__ import annotations

import io
import json
import stat

import pytest
from moto import mock_aws
from support.secrets import UNREAD_SECRET_ARN

from consumers.runtime.settings import RuntimeSettings, load_settings
from fanout import env_vars
from fanout.cli import main
from fanout.connection import Connection
from fanout.deploy import deployer
from fanout.deploy.models import DeployedStack
from hubcommon.errors import ConfigurationError
from router.settings import Settings

WEBHOOK = {
    "WebhookUrls": "https://hooks.example.com/fanout",
    "WebhookSecretArn": UNREAD_SECRET_ARN,
}
# The paths SAM CLI knows the functions by: logical id, prefixed by the nested application,
# and each consumer's logical id in the local-invoke template (fanout.local_invoke).
NESTED = {
    "AuditLogConsumer/ConsumerFunction": "AuditLogConsumerFunction",
    "ProjectionConsumer/ConsumerFunction": "ProjectionConsumerFunction",
    "WebhookConsumer/ConsumerFunction": "WebhookConsumerFunction",
}
FUNCTIONS = {"RouterFunction", *NESTED, *NESTED.values()}
CONSUMERS = sorted(FUNCTIONS - {"RouterFunction"})


@pytest.fixture(scope="class")
def deployed():
    """The whole template (webhook included) created in moto as stack ``hub``.

    Class scope: the mock ends before the local hub's tests talk to a real moto server.
    """
    with mock_aws():
        yield deployer.deploy(stack_name="hub", parameters=WEBHOOK)


def _assert_usable(found: dict[str, dict[str, str]], deployed: DeployedStack) -> None:
    assert set(found) == FUNCTIONS
    for path, function in deployed.all_functions().items():
        assert found[path] == dict(function.environment), path
    for path, lifted in NESTED.items():
        assert found[lifted] == found[path], lifted
    router = Settings.from_env(found["RouterFunction"])
    assert router.topic_arn == deployed.outputs["TopicArn"]
    assert router.dlq_url == deployed.outputs["RouterDeadLetterQueueUrl"]
    for path in CONSUMERS:
        settings = load_settings(RuntimeSettings, found[path])
        assert settings.dlq_url.startswith("http"), path


class TestBuiltTemplateAlone:
    """Without the file, the built template's references fail the router's cold start."""

    def test_logical_ids_are_refused(self):
        with pytest.raises(ConfigurationError, match="TOPIC_ARN='Topic' is invalid"):
            Settings.from_env(
                {
                    "TOPIC_ARN": "Topic",
                    "ROUTER_DLQ_URL": "RouterDeadLetterQueue",
                    "PAYLOAD_BUCKET": "PayloadBucket",
                }
            )


class TestFromStack:
    """A deployed stack's functions, nested applications included, with their real values."""

    def test_every_function_with_its_deployed_environment(self, deployed):
        found = env_vars.from_stack(Connection(region="us-east-1"), "hub")
        _assert_usable(found, deployed)

    def test_cli_writes_the_file_for_the_stack(self, deployed, tmp_path, capsys):
        target = tmp_path / "env.json"
        code = main(["env-vars", "--stack-name", "hub", "--region", "us-east-1", "-o", str(target)])
        assert code == 0
        _assert_usable(json.loads(target.read_text()), deployed)
        # The webhook consumer's variables hold its signing secret.
        assert stat.S_IMODE(target.stat().st_mode) == 0o600
        assert "sam local invoke RouterFunction" in capsys.readouterr().err

    def test_unknown_stack_is_one_line_and_exit_2(self, deployed, capsys):
        code = main(["env-vars", "--stack-name", "no-such-hub", "--region", "us-east-1"])
        err = capsys.readouterr().err
        assert code == 2
        assert err.splitlines() == [
            "fanout env-vars: no stack 'no-such-hub' at AWS region us-east-1"
        ]


@pytest.fixture(scope="module")
def local_hub(tmp_path_factory):
    """A running local hub (embedded moto server) whose state file lives in a temp folder."""
    from fanout.local import hub as hub_module

    patch = pytest.MonkeyPatch()
    patch.setattr(hub_module, "STATE_FILE", tmp_path_factory.mktemp("state") / "hub.json")
    hub = hub_module.LocalHub(
        parameters=WEBHOOK, write_state=True, start_emulator=False, handler_output=io.StringIO()
    )
    try:
        with hub:
            yield hub
    finally:
        patch.undo()


class TestFromLocalHub:
    """The running local hub's functions, from the state file `fanout local up` writes."""

    def test_cli_writes_the_file_for_the_running_hub(self, local_hub, tmp_path, capsys):
        target = tmp_path / "env.json"
        assert main(["env-vars", "-o", str(target)]) == 0
        found = json.loads(target.read_text())
        assert set(found) == FUNCTIONS
        for function in local_hub.deployment.functions:
            assert found[function.logical_id] == {
                **function.environment,
                "AWS_ENDPOINT_URL": local_hub.endpoint_url,
            }
        router = Settings.from_env(found["RouterFunction"])
        assert router.topic_arn == local_hub.topic_arn
        for path in CONSUMERS:
            load_settings(RuntimeSettings, found[path])
        assert f"from the local hub at {local_hub.endpoint_url}" in capsys.readouterr().err

    def test_stdout_output_is_the_same_document(self, local_hub, tmp_path, capsys):
        assert main(["env-vars", "-o", str(tmp_path / "env.json")]) == 0
        capsys.readouterr()
        assert main(["env-vars", "-o", "-"]) == 0
        assert json.loads(capsys.readouterr().out) == json.loads(
            (tmp_path / "env.json").read_text()
        )
