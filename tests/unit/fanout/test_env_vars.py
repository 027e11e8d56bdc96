"""``fanout env-vars``: how functions are found and keyed, and what the command refuses."""

from __future__ import annotations

import json
import stat

import pytest
from botocore.stub import Stubber

from fanout import env_vars
from fanout.cli import main
from fanout.connection import Connection

ROOT_ID = "arn:aws:cloudformation:us-east-1:123456789012:stack/hub/1"
AUDIT_ID = "arn:aws:cloudformation:us-east-1:123456789012:stack/hub-AuditLogConsumer-ABC/2"
ROUTER_ENV = {
    "TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:hub-Topic-1",
    "ROUTER_DLQ_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/hub-RouterDLQ-1",
    "PAYLOAD_BUCKET": "hub-payloadbucket-1",
}
AUDIT_ENV = {"CONSUMER_NAME": "audit-log", "DLQ_URL": "https://sqs.example/dlq"}


def _summary(logical_id: str, physical: str, kind: str) -> dict:
    return {
        "LogicalResourceId": logical_id,
        "PhysicalResourceId": physical,
        "ResourceType": kind,
        "LastUpdatedTimestamp": "2026-01-01T00:00:00Z",
        "ResourceStatus": "CREATE_COMPLETE",
    }


class TestFromStackOnAnAccount:
    """On an account a nested application is a stack resource; its functions get full paths."""

    def test_nested_stack_functions_are_keyed_by_full_path(self):
        connection = Connection(region="us-east-1")
        cloudformation = connection.client("cloudformation")
        lambda_ = connection.client("lambda")
        with Stubber(cloudformation) as cfn, Stubber(lambda_) as lam:
            cfn.add_response(
                "describe_stacks",
                {
                    "Stacks": [
                        {
                            "StackName": "hub",
                            "StackId": ROOT_ID,
                            "CreationTime": "2026-01-01T00:00:00Z",
                            "StackStatus": "UPDATE_COMPLETE",
                        }
                    ]
                },
                {"StackName": "hub"},
            )
            cfn.add_response(
                "list_stack_resources",
                {
                    "StackResourceSummaries": [
                        _summary("RouterFunction", "hub-RouterFunction-1", "AWS::Lambda::Function"),
                        _summary("Topic", ROUTER_ENV["TOPIC_ARN"], "AWS::SNS::Topic"),
                        _summary("AuditLogConsumer", AUDIT_ID, "AWS::CloudFormation::Stack"),
                    ]
                },
                {"StackName": "hub"},
            )
            cfn.add_response(
                "list_stack_resources",
                {
                    "StackResourceSummaries": [
                        _summary("ConsumerFunction", "audit-fn-1", "AWS::Lambda::Function")
                    ]
                },
                {"StackName": AUDIT_ID},
            )
            lam.add_response(
                "get_function_configuration",
                {"Environment": {"Variables": ROUTER_ENV}},
                {"FunctionName": "hub-RouterFunction-1"},
            )
            lam.add_response(
                "get_function_configuration",
                {"Environment": {"Variables": AUDIT_ENV}},
                {"FunctionName": "audit-fn-1"},
            )
            found = env_vars.from_stack(connection, "hub")
            cfn.assert_no_pending_responses()
        # No bare "ConsumerFunction" key: SAM CLI matches the logical id first, so it
        # would give every consumer of the kit this one's variables. The consumer is also
        # keyed by its logical id in the local-invoke template (fanout.local_invoke).
        assert found == {
            "RouterFunction": ROUTER_ENV,
            "AuditLogConsumer/ConsumerFunction": AUDIT_ENV,
            "AuditLogConsumerFunction": AUDIT_ENV,
        }


class TestFromLocalHubState:
    """The state file's functions, keyed by the path SAM CLI knows them by."""

    def test_functions_are_keyed_by_logical_path(self):
        state = {
            "endpoint_url": "http://127.0.0.1:5000",
            "functions": [
                {
                    "name": "hub-RouterFunction-1",
                    "logical_id": "RouterFunction",
                    "environment": ROUTER_ENV,
                },
                {
                    "name": "hub-AuditLogConsumer-ConsumerFunction-1",
                    "logical_id": "AuditLogConsumer/ConsumerFunction",
                    "environment": AUDIT_ENV,
                },
            ],
        }
        hub = {"AWS_ENDPOINT_URL": "http://127.0.0.1:5000"}
        assert env_vars.from_local_hub(state) == {
            "RouterFunction": {**ROUTER_ENV, **hub},
            "AuditLogConsumer/ConsumerFunction": {**AUDIT_ENV, **hub},
            "AuditLogConsumerFunction": {**AUDIT_ENV, **hub},
        }

    def test_a_container_reaches_the_hub_by_the_name_given(self):
        state = {
            "endpoint_url": "http://127.0.0.1:5000",
            "functions": [{"logical_id": "RouterFunction", "name": "r", "environment": {}}],
        }
        found = env_vars.from_local_hub(state, endpoint_host="host.docker.internal")
        assert found["RouterFunction"]["AWS_ENDPOINT_URL"] == "http://host.docker.internal:5000"

    def test_a_state_without_functions_is_refused(self):
        with pytest.raises(env_vars.EnvVarsError, match="lists no functions"):
            env_vars.from_local_hub({"endpoint_url": "http://127.0.0.1:5000", "functions": []})


class TestCommandErrors:
    """Nothing to read from: one clear line on stderr and exit status 2."""

    def test_no_local_hub_and_no_stack_name(self, tmp_path, monkeypatch, capsys):
        from fanout.local import hub

        monkeypatch.setattr(hub, "STATE_FILE", tmp_path / "no-hub.json")
        code = main(["env-vars", "-o", str(tmp_path / "env.json")])
        captured = capsys.readouterr()
        assert code == 2
        assert captured.err.splitlines() == [
            (
                "fanout env-vars: no local hub is running (start one with `fanout local up`)"
                " and no --stack-name given"
            )
        ]
        assert captured.out == ""
        assert not (tmp_path / "env.json").exists()


class TestWrite:
    """The file may hold a secret (a consumer's variables): only its owner reads it."""

    def test_an_existing_readable_file_becomes_owner_only(self, tmp_path):
        target = tmp_path / "env.json"
        target.write_text("{}")
        target.chmod(0o644)
        env_vars.write({"RouterFunction": ROUTER_ENV}, target)
        assert stat.S_IMODE(target.stat().st_mode) == 0o600
        assert json.loads(target.read_text()) == {"RouterFunction": ROUTER_ENV}


class TestAwsErrors:
    """A stack that cannot be read (no credentials, no network, denied): one line, exit 1."""

    def test_no_credentials_is_one_line(self, monkeypatch, tmp_path, capsys):
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
        monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
        monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
        code = main(["env-vars", "--stack-name", "nope", "--region", "us-east-1"])
        err = capsys.readouterr().err
        assert code == 1
        assert len(err.strip().splitlines()) == 1
        assert err.startswith("fanout env-vars: no AWS credentials found")
