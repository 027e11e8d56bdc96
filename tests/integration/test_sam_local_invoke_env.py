"""What ``sam local invoke`` would hand each function's container, short of starting Docker.

SAM CLI's own resolution (``SamLocalStackProvider`` → ``SamFunctionProvider`` →
``LocalLambdaRunner.get_invoke_config``), run on what ``make local-build`` writes (a ``sam
build`` of this checkout, then ``fanout.local_invoke``'s ``local-invoke.yaml``) with the
``[default.local_invoke.parameters]`` of ``samconfig.toml`` and the file ``fanout env-vars``
wrote for a stack deployed in moto. Docker is the only step left out: the container
gets exactly ``config.env_vars.resolve()``, runs on ``config.architecture``, and has the
function's package in /var/task and its layers' folders (``LayerDownloader``, the same
call ``sam local invoke`` makes) extracted over /opt (``support.lambda_opt``).
https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/serverless-sam-cli-using-invoke.html
"""

from __future__ import annotations

import functools
import json
import re
import shlex
import tomllib
from pathlib import Path

import pytest
from moto import mock_aws
from samcli.commands.local.cli_common.user_exceptions import InvalidLayerVersionArn
from samcli.commands.local.lib.local_lambda import LocalLambdaRunner
from samcli.lib.providers.provider import Function
from samcli.lib.providers.sam_function_provider import SamFunctionProvider
from samcli.lib.providers.sam_stack_provider import SamLocalStackProvider
from samcli.local.layers.layer_downloader import LayerDownloader
from support.lambda_opt import import_handler, merge_layers
from support.secrets import UNREAD_SECRET_ARN

from consumers.audit_log.archive import AuditSettings
from consumers.projection.view import ProjectionSettings
from consumers.runtime.settings import RuntimeSettings, load_settings
from consumers.webhook.forwarder import WebhookEnvironment
from fanout import env_vars, local_invoke
from fanout.build import sam_build_locally
from fanout.cli import main
from fanout.deploy import deployer
from fanout.deploy.exceptions import StackError
from fanout.deploy.template import check_rules, load_template, parameter_values
from hubcommon.errors import ConfigurationError
from router.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
# SAM CLI validates templates through deprecated aws-sam-translator and jsonschema calls.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
WEBHOOK = {
    "WebhookUrls": "https://hooks.example.com/fanout",
    "WebhookSecretArn": UNREAD_SECRET_ARN,
}
# Each consumer by its logical id in local-invoke.yaml, and the kit function it is lifted from.
CONSUMER_SETTINGS = {
    "AuditLogConsumerFunction": ("audit-log", AuditSettings.from_env),
    "ProjectionConsumerFunction": ("projection", ProjectionSettings.from_env),
    "WebhookConsumerFunction": ("webhook", WebhookEnvironment.from_env),
}
NESTED = {
    "AuditLogConsumerFunction": "AuditLogConsumer/ConsumerFunction",
    "ProjectionConsumerFunction": "ProjectionConsumer/ConsumerFunction",
    "WebhookConsumerFunction": "WebhookConsumer/ConsumerFunction",
}
# The kit's layers in its order: the hub's runtime, then the consumers' code.
LAYERS = ["ConsumerRuntimeLayer", "ConsumersCodeLayer"]


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


def functions_of(template: Path, **overrides: str) -> SamFunctionProvider:
    """SAM CLI's functions of ``template`` with samconfig's local_invoke overrides."""
    return _functions_of(template, tuple(sorted(overrides.items())))


@functools.cache
def _functions_of(template: Path, overrides: tuple[tuple[str, str], ...]) -> SamFunctionProvider:
    # Read once per template and overrides: SAM CLI translates the hub and its nested kits
    # on every read, which costs seconds, and the tests only read what it found.
    stacks, _ = SamLocalStackProvider.get_stacks(
        str(template),
        parameter_overrides={**local_invoke_overrides(), **WEBHOOK, **dict(overrides)},
    )
    return SamFunctionProvider(stacks)


def container_environments(
    template: Path, env_vars: dict | None, **overrides: str
) -> dict[str, tuple[str, dict[str, str]]]:
    """Function full path -> (architecture, environment) as SAM CLI would start it."""
    provider = functions_of(template, **overrides)
    runner = LocalLambdaRunner(
        None,  # the container runtime: not needed to resolve the configuration
        provider,
        str(template.parent),
        str(template.parent),
        aws_region="us-east-1",
        env_vars_values=env_vars or {},
    )
    found = {}
    for function in provider.get_all():
        config = runner.get_invoke_config(function)
        found[function.full_path] = (config.architecture, config.env_vars.resolve())
    return found


@pytest.fixture(scope="module")
def local_build(tmp_path_factory) -> Path:
    """``make local-build`` into a temporary folder: ``sam build``, then local-invoke.yaml.

    Built for this machine's Python (``fanout.build.sam_build_locally``) so the handlers
    import here; the template is the same whatever the build's platform.
    """
    build_dir = tmp_path_factory.mktemp("local") / "build"
    result, _ = sam_build_locally(build_dir)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert local_invoke.main(["--build-dir", str(build_dir)]) == 0
    return build_dir


@pytest.fixture(scope="module")
def template(local_build) -> Path:
    """The template ``sam local invoke`` runs (samconfig.toml's ``template_file``)."""
    return local_build / local_invoke.TEMPLATE_NAME


@pytest.fixture(scope="module")
def with_file(template, env_file):
    """The containers' configuration with the file."""
    return container_environments(template, env_file)


@pytest.fixture(scope="module")
def env_file(tmp_path_factory):
    """``fanout env-vars --stack-name hub`` for the whole template created in moto."""
    target = tmp_path_factory.mktemp("env") / "env.json"
    with mock_aws():
        deployer.deploy(stack_name="hub", parameters=WEBHOOK)
        assert (
            main(["env-vars", "--stack-name", "hub", "--region", "us-east-1", "-o", str(target)])
            == 0
        )
    return json.loads(target.read_text())


class TestWithoutTheFile:
    """The built template alone gives the router logical ids, which its cold start refuses."""

    def test_router_is_refused(self, template):
        _, environment = container_environments(template, None)["RouterFunction"]
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
        # Each is its own function in local-invoke.yaml, keyed by its own logical id.
        assert environment["CONSUMER_NAME"] == consumer_name
        assert environment["DLQ_URL"] == env_file[NESTED[path]]["DLQ_URL"]
        assert environment["DLQ_URL"].startswith("http")
        load_settings(RuntimeSettings, environment)
        own_settings(environment)


class TestLocalInvokeTemplate:
    """local-invoke.yaml: the hub stack alone, each consumer's function lifted into it."""

    def test_every_function_is_in_the_hub_stack(self, template):
        provider = functions_of(template)
        assert len(provider.stacks) == 1, "no nested application is left"
        assert {f.full_path for f in provider.get_all()} == {"RouterFunction", *CONSUMER_SETTINGS}

    def test_the_router_is_the_built_one_unchanged(self, local_build, template):
        built = load_template(local_build / local_invoke.BUILT_TEMPLATE)["Resources"]
        assert load_template(template)["Resources"]["RouterFunction"] == built["RouterFunction"]

    @pytest.mark.parametrize("function_id", CONSUMER_SETTINGS)
    def test_each_consumer_keeps_the_kit_functions_package(self, local_build, function_id):
        function = functions_of(local_build / local_invoke.TEMPLATE_NAME).get(function_id)
        assert function is not None
        # The kit's built package (its README alone), as the nested function has it.
        assert Path(function.codeuri) == local_build / NESTED[function_id]
        assert [p.name for p in Path(function.codeuri).iterdir()] == ["README.txt"]


class TestLayers:
    """Every consumer function gets the hub's two layers as built folders, in the kit's order."""

    @pytest.fixture(scope="class")
    def consumers(self, template) -> dict[str, Function]:
        provider = functions_of(template)
        return {f.full_path: f for f in provider.get_all() if f.full_path in CONSUMER_SETTINGS}

    @pytest.mark.parametrize("function_id", CONSUMER_SETTINGS)
    def test_layers_are_the_templates_own(self, local_build, consumers, function_id):
        layers = consumers[function_id].layers
        # GIVEN local-invoke.yaml THEN each layer is a LayerVersion of the same stack, whose
        # folder is the build's, so sam local invoke uses it instead of downloading an ARN.
        assert [layer.arn for layer in layers] == LAYERS
        assert all(layer.is_defined_within_template for layer in layers)
        assert [layer.name for layer in layers] == LAYERS  # what `sam local invoke` computes
        assert [Path(layer.codeuri) for layer in layers] == [local_build / n for n in LAYERS]

    @pytest.mark.parametrize("function_id", CONSUMER_SETTINGS)
    def test_layers_hold_the_runtime_and_the_handlers_module(self, consumers, function_id):
        function = consumers[function_id]
        runtime, code = (Path(layer.codeuri) / "python" for layer in function.layers)
        module = function.handler.rpartition(".")[0]
        consumer = module.split(".")[1]
        assert (code / "consumers" / consumer / "app.py").is_file()
        assert (code / (module.replace(".", "/") + ".py")).is_file()
        assert (runtime / "consumers" / "runtime" / "__init__.py").is_file()

    @pytest.mark.parametrize("function_id", CONSUMER_SETTINGS)
    def test_the_handler_imports_from_task_and_opt(
        self, template, consumers, function_id, tmp_path
    ):
        # GIVEN the layers as sam local invoke fetches them (a template's own layer: its
        # folder, nothing downloaded) WHEN extracted over /opt in order, as its image does
        function = consumers[function_id]
        downloader = LayerDownloader(str(tmp_path / "cache"), str(template.parent), [])
        layers = downloader.download_all(function.layers)
        opt = merge_layers([Path(layer.codeuri) for layer in layers], tmp_path / "opt")
        # THEN the handler imports from /var/task and /opt/python alone, from the code layer
        found = import_handler(Path(function.codeuri), opt, function.handler)
        assert found["callable"] is True
        module = function.handler.rpartition(".")[0]
        assert found["file"] == str(opt / "python" / (module.replace(".", "/") + ".py"))


class TestNestedKitLayers:
    """Why local-invoke.yaml exists: SAM CLI cannot invoke a kit nested in the hub stack.

    A layer the parent passes to a nested application reaches SAM CLI as the plain string
    of the parent's logical id ("ConsumerRuntimeLayer"), neither resolved to the parent's
    LayerVersion nor an ARN to download the layer by
    (https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/serverless-sam-cli-layers.html):
    ``sam local invoke AuditLogConsumer/ConsumerFunction``
    stops with "ConsumerRuntimeLayer is an Invalid Layer Arn." SAM CLI resolves a layer
    ``Ref`` only within the function's own stack (``SamFunctionProvider._parse_layer_info``;
    ``_locate_layer_from_nested`` runs for ``sam sync`` alone), and its own
    ``TestBuildPassingLayerAcrossStacks`` (tests/integration/buildcmd/test_build_cmd.py)
    expects the error: https://github.com/aws/aws-sam-cli/issues/2820,
    https://github.com/aws/aws-sam-cli/issues/3003. This asserts that current behaviour:
    the day SAM CLI resolves such layers it fails, and local-invoke.yaml can go.
    """

    @pytest.mark.parametrize("which", ["source", "built"])
    @pytest.mark.parametrize("function_id", CONSUMER_SETTINGS)
    def test_the_nested_function_has_no_usable_layer(self, local_build, which, function_id):
        plain = ROOT / "template.yaml" if which == "source" else local_build / "template.yaml"
        function = functions_of(plain).get(NESTED[function_id])
        assert function is not None
        assert [layer.arn for layer in function.layers] == LAYERS
        assert not any(layer.is_defined_within_template for layer in function.layers)
        with pytest.raises(
            InvalidLayerVersionArn, match="ConsumerRuntimeLayer is an Invalid Layer Arn"
        ):
            function.layers[0].name  # noqa: B018 - the property sam local invoke computes


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
        template_file = f"{build_dir}/{local_invoke.TEMPLATE_NAME}"
        assert local_invoke_parameters()["template_file"] == template_file
        assert build_dir != ".aws-sam/build", "the deploy build must stay arm64"
        # The same target writes the template into that build folder.
        makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
        assert "python -m fanout.local_invoke --build-dir $(LOCAL_INVOKE_BUILD_DIR)" in makefile


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

    def test_every_function_gets_the_hub_endpoint(self, template, hub_file):
        # GIVEN the override the printed command passes WHEN SAM CLI resolves each container
        found = container_environments(template, hub_file, LocalEndpointUrl="http://127.0.0.1:1")
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
