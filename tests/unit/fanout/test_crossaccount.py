"""What a stack takes from another account: names, URLs, and the owner's grant decides."""

from __future__ import annotations

import json
from typing import Any

import pytest

from fanout.crossaccount import (
    CrossAccountRefusedError,
    detach_foreign_layers,
    parameter_name,
    s3_location,
    ssm_typed_parameters,
)

HUB = "123456789012"
TEAM = "210987654321"
RUNTIME_LAYER = f"arn:aws:lambda:us-east-1:{HUB}:layer:fanout-hub-consumer-runtime:3"
CODE_LAYER = f"arn:aws:lambda:us-east-1:{TEAM}:layer:other-team-code:1"


class FakeLambda:
    """``GetLayerVersionPolicy`` answering with one policy document (or no policy at all)."""

    def __init__(self, policy: dict[str, Any] | None) -> None:
        self.policy = policy
        self.asked: list[tuple[str, int]] = []

    def get_layer_version_policy(self, LayerName: str, VersionNumber: int) -> dict[str, str]:  # noqa: N803 - boto3's names
        self.asked.append((LayerName, VersionNumber))
        if self.policy is None:
            from botocore.exceptions import ClientError

            raise ClientError({"Error": {"Code": "ResourceNotFoundException"}}, "GetPolicy")
        return {"Policy": json.dumps(self.policy)}


class FakeConnection:
    def __init__(self, lambda_: FakeLambda) -> None:
        self.lambda_ = lambda_

    def client(self, service: str) -> Any:
        assert service == "lambda"
        return self.lambda_


def function_with_layers(*layers: Any) -> dict[str, Any]:
    return {"Fn": {"Type": "AWS::Lambda::Function", "Properties": {"Layers": list(layers)}}}


def granting(principal: str) -> dict[str, Any]:
    return {
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": principal},
                "Action": "lambda:GetLayerVersion",
                "Resource": RUNTIME_LAYER,
            }
        ]
    }


class TestNames:
    @pytest.mark.parametrize(
        ("url", "expected"),
        [
            (
                "https://hub-artifacts.s3.us-east-1.amazonaws.com/consumer-kit/0.1.0/template.yaml",
                ("hub-artifacts", "consumer-kit/0.1.0/template.yaml"),
            ),
            ("https://b.s3.amazonaws.com/k/t.yaml", ("b", "k/t.yaml")),
            ("https://s3.eu-west-1.amazonaws.com/b/k/t.yaml", ("b", "k/t.yaml")),
        ],
    )
    def test_s3_urls_name_a_bucket_and_key(self, url, expected):
        assert s3_location(url) == expected

    def test_another_url_is_not_s3(self):
        with pytest.raises(ValueError, match="not an Amazon S3 URL"):
            s3_location("https://example.com/template.yaml")

    @pytest.mark.parametrize(
        ("reference", "name"),
        [
            (
                f"arn:aws:ssm:us-east-1:{HUB}:parameter/fanout-hub/hub/topic-arn",
                "/fanout-hub/hub/topic-arn",
            ),
            ("/fanout-hub/hub/topic-arn", "/fanout-hub/hub/topic-arn"),
            (f"arn:aws:ssm:us-east-1:{HUB}:parameter/plain", "/plain"),
        ],
    )
    def test_a_parameter_is_named_by_its_name_or_arn(self, reference, name):
        assert parameter_name(reference) == name

    def test_only_ssm_typed_parameters_are_read_from_parameter_store(self):
        declared = {
            "A": {"Type": "AWS::SSM::Parameter::Value<String>"},
            "B": {"Type": "String"},
            "C": {"Type": "AWS::SSM::Parameter::Value<List<String>>"},
        }
        assert ssm_typed_parameters(declared) == ["A", "C"]


class TestForeignLayers:
    """A layer version of another account is attached only if its policy grants the account."""

    def test_layers_are_listed_from_parameters_in_order(self):
        resources = function_with_layers({"Ref": "RuntimeLayerArn"}, {"Ref": "CodeLayerArn"})
        values = {"RuntimeLayerArn": RUNTIME_LAYER, "CodeLayerArn": CODE_LAYER}
        # A real account resolves them itself: nothing detached, nothing checked.
        assert detach_foreign_layers(resources, values, TEAM, None) == {
            "Fn": (RUNTIME_LAYER, CODE_LAYER)
        }
        assert resources["Fn"]["Properties"]["Layers"] == [
            {"Ref": "RuntimeLayerArn"},
            {"Ref": "CodeLayerArn"},
        ]

    @pytest.mark.parametrize(
        "policy",
        [
            granting(TEAM),
            granting("*"),
            granting(f"arn:aws:iam::{TEAM}:root"),
            # moto's shape: the bare account id as the principal.
            {"Statement": [{**granting("")["Statement"][0], "Principal": TEAM}]},
        ],
    )
    def test_a_granted_layer_is_detached_for_the_invoker(self, policy):
        lambda_ = FakeLambda(policy)
        resources = function_with_layers(RUNTIME_LAYER, {"Ref": "CodeLayerArn"})
        layers = detach_foreign_layers(
            resources, {"CodeLayerArn": CODE_LAYER}, TEAM, lambda _: FakeConnection(lambda_)
        )
        assert layers == {"Fn": (RUNTIME_LAYER, CODE_LAYER)}
        # The endpoint is left with the team's own layer only.
        assert resources["Fn"]["Properties"]["Layers"] == [{"Ref": "CodeLayerArn"}]
        assert lambda_.asked == [("fanout-hub-consumer-runtime", 3)]

    @pytest.mark.parametrize("policy", [None, granting("444455556666")])
    def test_an_ungranted_layer_is_refused(self, policy):
        owners = lambda _: FakeConnection(FakeLambda(policy))  # noqa: E731
        with pytest.raises(CrossAccountRefusedError, match="lambda:GetLayerVersion"):
            detach_foreign_layers(function_with_layers(RUNTIME_LAYER), {}, TEAM, owners)
