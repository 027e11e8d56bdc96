"""What ``sam local invoke`` would hand each function's container, short of starting Docker.

SAM CLI's own resolution (``SamLocalStackProvider`` → ``SamFunctionProvider`` →
``LocalLambdaRunner.get_invoke_config``), run on ``template.yaml`` with the
``[default.local_invoke.parameters]`` of ``samconfig.toml`` and the file ``fanout env-vars``
wrote for a stack deployed in moto. Docker is the only step left out: the container
gets exactly ``config.env_vars.resolve()`` and runs on ``config.architecture``.
https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/serverless-sam-cli-using-invoke.html
"""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from pathlib import Path

import pytest
from moto import mock_aws
from samcli.commands.local.lib.local_lambda import LocalLambdaRunner
from samcli.lib.providers.sam_function_provider import SamFunctionProvider
from samcli.lib.providers.sam_stack_provider import SamLocalStackProvider
from support.secrets import UNREAD_SECRET_ARN

from consumers.audit_log.archive import AuditSettings
from consumers.projection.view import ProjectionSettings
from consumers.runtime.settings import RuntimeSettings, load_settings
from consumers.webhook.forwarder import WebhookEnvironment
from fanout import env_vars, stack
from fanout.cli import main
from fanout.stack import StackError, check_rules, load_template, parameter_values
from router.errors import ConfigurationError
from router.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
# SAM CLI validates templates through deprecated aws-sam-translator and jsonschema calls.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
WEBHOOK = {
    "WebhookUrls": "https://hooks.example.com/fanout",
    "WebhookSecretArn": UNREAD_SECRET_ARN,
}
CONSUMER_SETTINGS = {
    "AuditLogConsumer/ConsumerFunction": ("audit-log", AuditSettings.from_env),
    "ProjectionConsumer/ConsumerFunction": ("projection", ProjectionSettings.from_env),
    "WebhookConsumer/ConsumerFunction": ("webhook", WebhookEnvironment.from_env),
}


def local_invoke_parameters() -> dict[str, str]:
    """``[default.local_invoke.parameters]`` of samconfig.toml."""
    config = tomllib.loads((ROOT / "samconfig.toml").read_text(encoding="utf-8"))
    return dict(config["default"]["local_invoke"]["parameters"])


def local_invoke_overrides() -> dict[str, str]:
    """Its ``parameter_overrides`` as a dict."""
    text = local_invoke_parameters()["parameter_overrides"]
    return dict(pair.split("=", 1) for pair in shlex.split(text))


def makefile_variable(name: str) -> str:
    """A ``NAME := value`` of the Makefile."""
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    match = re.search(rf"^{name} := (\S+)$", text, re.MULTILINE)
    assert match, f"the Makefile has no {name}"
    return match.group(1)


def container_environments(
    env_vars: dict | None, **overrides: str
) -> dict[str, tuple[str, dict[str, str]]]:
    """Function full path -> (architecture, environment) as SAM CLI would start it."""
    stacks, _ = SamLocalStackProvider.get_stacks(
        str(ROOT / "template.yaml"),
        parameter_overrides={**local_invoke_overrides(), **WEBHOOK, **overrides},
    )
    provider = SamFunctionProvider(stacks)
    runner = LocalLambdaRunner(
        None,  # the container runtime: not needed to resolve the configuration
        provider,
        str(ROOT),
        str(ROOT),
        aws_region="us-east-1",
        env_vars_values=env_vars or {},
    )
    found = {}
    for function in provider.get_all():
        config = runner.get_invoke_config(function)
        found[function.full_path] = (config.architecture, config.env_vars.resolve())
    return found


@pytest.fixture(scope="module")
def with_file(env_file):
    """The containers' configuration with the file."""
    return container_environments(env_file)


@pytest.fixture(scope="module")
def env_file(tmp_path_factory):
    """``fanout env-vars --stack-name hub`` for the whole template created in moto."""
    target = tmp_path_factory.mktemp("env") / "env.json"
    with mock_aws():
        stack.deploy(stack_name="hub", parameters=WEBHOOK)
        assert (
            main(["env-vars", "--stack-name", "hub", "--region", "us-east-1", "-o", str(target)])
            == 0
        )
    return json.loads(target.read_text())


class TestWithoutTheFile:
    """The built template alone gives the router logical ids, which its cold start refuses."""

    def test_router_is_refused(self):
        _, environment = container_environments(None)["RouterFunction"]
        assert environment["TOPIC_ARN"] == "Topic"
        with pytest.raises(ConfigurationError, match="TOPIC_ARN='Topic' is invalid"):
            Settings.from_env(environment)


class TestWithTheFile:
    """Every function gets its deployed values and passes its own cold-start checks."""

    def test_router_settings_pass(self, env_file, with_file):
        _, environment = with_file["RouterFunction"]
        settings = Settings.from_env(environment)
        assert settings.topic_arn == env_file["RouterFunction"]["TOPIC_ARN"]
        assert settings.topic_arn.startswith("arn:aws:sns:us-east-1:")

    @pytest.mark.parametrize("path", CONSUMER_SETTINGS)
    def test_each_consumer_gets_its_own_values(self, env_file, with_file, path):
        consumer_name, own_settings = CONSUMER_SETTINGS[path]
        _, environment = with_file[path]
        # All three share the logical id ConsumerFunction: only the full path separates them.
        assert environment["CONSUMER_NAME"] == consumer_name
        assert environment["DLQ_URL"] == env_file[path]["DLQ_URL"]
        load_settings(RuntimeSettings, environment)
        own_settings(environment)


class TestArchitecture:
    """`sam local invoke` runs x86_64, on the build `make local-build` made for x86_64."""

    def test_every_function_runs_as_x86_64(self, with_file):
        assert {arch for arch, _ in with_file.values()} == {"x86_64"}

    def test_local_build_matches_what_local_invoke_runs(self):
        # fanout.build picks wheels by LAMBDA_ARCHITECTURE (sam passes no parameter to
        # make), so the build target and samconfig.toml must name the same architecture
        # and the same build folder, or the container would import wheels of the other.
        assert (
            makefile_variable("LOCAL_INVOKE_ARCHITECTURE")
            == local_invoke_overrides()["Architecture"]
        )
        build_dir = makefile_variable("LOCAL_INVOKE_BUILD_DIR")
        assert local_invoke_parameters()["template_file"] == f"{build_dir}/template.yaml"
        assert build_dir != ".aws-sam/build", "the deploy build must stay arm64"


class TestAgainstTheLocalHub:
    """With the local hub's file and LocalEndpointUrl set, every function talks to the hub."""

    HUB = "http://127.0.0.1:5123"

    @pytest.fixture(scope="class")
    def hub_file(self, env_file):
        # The local hub's state holds what a deployed stack holds, plus its address.
        state = {
            "endpoint_url": self.HUB,
            "functions": [
                {"logical_id": path, "name": path, "environment": environment}
                for path, environment in env_file.items()
            ],
        }
        return env_vars.from_local_hub(state)

    def test_every_function_gets_the_hub_endpoint(self, hub_file):
        # GIVEN the override the printed command passes WHEN SAM CLI resolves each container
        found = container_environments(hub_file, LocalEndpointUrl="http://127.0.0.1:1")
        # THEN every function declares AWS_ENDPOINT_URL and gets the hub's address
        assert {path: env["AWS_ENDPOINT_URL"] for path, (_, env) in found.items()} == dict.fromkeys(
            found, self.HUB
        )
        Settings.from_env(found["RouterFunction"][1])

    def test_a_deployed_stacks_file_leaves_the_endpoint_to_aws(self, with_file):
        # SAM CLI does not evaluate Conditions: an unset LocalEndpointUrl's variable arrives
        # empty, and an empty AWS_ENDPOINT_URL is botocore's default endpoint (AWS).
        assert all(env.get("AWS_ENDPOINT_URL", "") == "" for _, env in with_file.values())

    def test_prod_refuses_the_override(self):
        template = load_template(ROOT / "template.yaml")
        context = {
            **parameter_values(
                template,
                {
                    "Stage": "prod",
                    "SourceStreamArn": "arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/1",
                    "AlarmTopicArn": "arn:aws:sns:us-east-1:123456789012:on-call",
                    "LocalEndpointUrl": self.HUB,
                },
            ),
            "AWS::Region": "us-east-1",
        }
        with pytest.raises(StackError, match="LocalEndpointUrl is for sam local invoke only"):
            check_rules(template, context, "hub")
