"""``fanout.local_invoke``: how a nested function is lifted, and what it refuses.

A small built folder stands in for ``sam build``'s output (a parent template whose nested
application's ``Location`` and whose function's ``CodeUri`` name built folders);
``tests/integration/test_sam_local_invoke_env.py`` runs the real build and SAM CLI.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from fanout import local_invoke
from fanout.deploy.template import load_template
from fanout.local_invoke import LocalInvokeError, lifted_id, lifted_path, local_invoke_template


def _kit(handler: Any = None, **variables: Any) -> dict[str, Any]:
    return {
        "Parameters": {
            "Handler": {"Type": "String"},
            "RuntimeLayerArn": {"Type": "String"},
            "Timeout": {"Type": "Number", "Default": 30},
        },
        "Resources": {
            "Queue": {"Type": "AWS::SQS::Queue"},
            "ConsumerFunction": {
                "Type": "AWS::Serverless::Function",
                "Properties": {
                    "CodeUri": "ConsumerFunction",
                    "Handler": handler or {"Ref": "Handler"},
                    "Runtime": "python3.13",
                    "Timeout": {"Ref": "Timeout"},
                    "Layers": [{"Ref": "RuntimeLayerArn"}],
                    "Role": {"Fn::GetAtt": ["Role", "Arn"]},
                    "Environment": {"Variables": variables},
                },
            },
        },
    }


def _build(tmp_path: Path, kit: dict[str, Any], **application: Any) -> Path:
    """A built folder: parent template.yaml, the layer, one nested kit at App/."""
    (tmp_path / "App").mkdir()
    (tmp_path / "App" / "template.yaml").write_text(json.dumps(kit))
    parent = {
        "Parameters": {"Mode": {"Type": "String", "Default": "a"}},
        "Conditions": {"On": {"Fn::Equals": [{"Ref": "Mode"}, "a"]}},
        "Resources": {
            "Layer": {
                "Type": "AWS::Serverless::LayerVersion",
                "Properties": {"ContentUri": "Layer"},
            },
            "App": {
                "Type": "AWS::Serverless::Application",
                **application,
                "Properties": {
                    "Location": "App/template.yaml",
                    "Parameters": {
                        "Handler": "pkg.app.handler",
                        "RuntimeLayerArn": {"Ref": "Layer"},
                    },
                },
            },
            "AppAlarm": {
                "Type": "AWS::CloudWatch::Alarm",
                "Properties": {"X": {"Fn::GetAtt": ["App", "Outputs.Q"]}},
            },
            "AfterApp": {"Type": "AWS::SNS::Topic", "DependsOn": "App"},
            "OnAlarm": {"Type": "AWS::SNS::Topic", "Properties": {"Name": {"Ref": "AppAlarm"}}},
            "Kept": {"Type": "AWS::SNS::Topic"},
        },
        "Outputs": {"QueueUrl": {"Value": {"Fn::GetAtt": ["App", "Outputs.Q"]}}},
    }
    (tmp_path / "template.yaml").write_text(json.dumps(parent))
    return tmp_path


class TestNames:
    def test_the_kit_function_becomes_app_function(self):
        assert lifted_id("AuditLogConsumer") == "AuditLogConsumerFunction"
        assert lifted_path("AuditLogConsumer/ConsumerFunction") == "AuditLogConsumerFunction"

    def test_a_top_level_function_keeps_its_id(self):
        assert lifted_path("RouterFunction") is None


class TestLifting:
    def test_the_function_runs_in_the_parent_with_the_parents_layer(self, tmp_path):
        template = local_invoke_template(_build(tmp_path, _kit()))
        function = template["Resources"]["AppFunction"]["Properties"]
        assert function == {
            "CodeUri": "App/ConsumerFunction",
            "Handler": "pkg.app.handler",
            "Runtime": "python3.13",
            "Timeout": 30,  # the kit's default: the application passes none
            "Layers": [{"Ref": "Layer"}],
        }

    def test_the_application_and_what_needs_it_are_gone(self, tmp_path):
        template = local_invoke_template(_build(tmp_path, _kit()))
        # The alarm names the application's output, the topics the application or the alarm.
        assert set(template["Resources"]) == {"Layer", "Kept", "AppFunction"}
        assert "Outputs" not in template
        assert template["Conditions"] == {"On": {"Fn::Equals": [{"Ref": "Mode"}, "a"]}}

    def test_the_applications_condition_goes_with_its_function(self, tmp_path):
        template = local_invoke_template(_build(tmp_path, _kit(), Condition="On"))
        assert template["Resources"]["AppFunction"]["Condition"] == "On"

    def test_variables_keep_their_names_and_only_portable_values(self, tmp_path):
        kit = _kit(
            NAME="fixed",
            HANDLER={"Ref": "Handler"},
            REGION={"Ref": "AWS::Region"},
            QUEUE={"Ref": "Queue"},
            CONFIG={"Fn::If": ["KitCondition", "a", "b"]},
        )
        template = local_invoke_template(_build(tmp_path, kit))
        variables = template["Resources"]["AppFunction"]["Properties"]["Environment"]["Variables"]
        # The kit's queue and conditions exist only in its own stack: env.json fills them.
        assert variables == {
            "NAME": "fixed",
            "HANDLER": "pkg.app.handler",
            "REGION": {"Ref": "AWS::Region"},
            "QUEUE": "",
            "CONFIG": "",
        }

    def test_written_next_to_the_build(self, tmp_path):
        build = _build(tmp_path, _kit())
        assert local_invoke.main(["--build-dir", str(build)]) == 0
        written = load_template(build / local_invoke.TEMPLATE_NAME)
        assert written["Resources"]["AppFunction"]["Properties"]["Layers"] == [{"Ref": "Layer"}]


class TestRefusals:
    def test_a_handler_only_the_nested_stack_resolves(self, tmp_path):
        build = _build(tmp_path, _kit(handler={"Fn::Sub": "${Queue}.handler"}))
        with pytest.raises(LocalInvokeError, match=r"App/ConsumerFunction: Handler names Fn::Sub"):
            local_invoke_template(build)

    def test_no_build_yet(self, tmp_path, capsys):
        assert local_invoke.main(["--build-dir", str(tmp_path)]) == 2
        assert "run `sam build` (make local-build) first" in capsys.readouterr().err
