"""The hub shares its discovery parameters with ConsumerAccountIds through AWS RAM.

A consumer account reads them by ARN (an ``AWS::SSM::Parameter::Value<String>``
template parameter); RAM shares only advanced-tier parameters:
https://docs.aws.amazon.com/systems-manager/latest/userguide/parameter-store-shared-parameters.html
"""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from fanout.connection import Connection
from fanout.crossaccount import shared_with_account
from fanout.deploy import deployer
from fanout.deploy.exceptions import StackError

HUB_ACCOUNT = "123456789012"  # moto's default account
TEAM_ACCOUNT = "210987654321"
LEAVES = ("topic-arn", "payload-bucket", "consumer-runtime-layer-arn")
ALL_LEAVES = (*LEAVES, "consumer-runtime-version", "kit-url")


def parameter_arn(hub: str, leaf: str) -> str:
    return f"arn:aws:ssm:us-east-1:{HUB_ACCOUNT}:parameter/fanout-hub/{hub}/{leaf}"


@pytest.fixture(autouse=True)
def _region(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")


@pytest.fixture(scope="module")
def hubs():
    """Two hubs in one moto: one sharing with TEAM_ACCOUNT, one sharing with nobody."""
    with mock_aws():
        deployer.deploy(stack_name="shared", parameters={"ConsumerAccountIds": TEAM_ACCOUNT})
        deployer.deploy(stack_name="plain")
        yield Connection(region="us-east-1")


def tiers(hub: str) -> dict[str, str]:
    """Each discovery parameter of ``hub`` and its tier."""
    described = boto3.client("ssm").describe_parameters(
        ParameterFilters=[{"Key": "Path", "Option": "OneLevel", "Values": [f"/fanout-hub/{hub}"]}]
    )["Parameters"]
    return {p["Name"].rsplit("/", 1)[-1]: p.get("Tier", "Standard") for p in described}


class TestShare:
    """Granted accounts read every discovery parameter by ARN; nobody else."""

    @pytest.mark.parametrize("leaf", ALL_LEAVES)
    def test_each_parameter_is_shared_with_the_consumer_account(self, hubs, leaf):
        assert shared_with_account(hubs, parameter_arn("shared", leaf), TEAM_ACCOUNT)

    def test_not_with_another_account(self, hubs):
        assert not shared_with_account(hubs, parameter_arn("shared", "topic-arn"), "444455556666")

    def test_a_hub_without_consumer_accounts_shares_nothing(self, hubs):
        assert not shared_with_account(hubs, parameter_arn("plain", "topic-arn"), TEAM_ACCOUNT)
        names = [
            s["name"]
            for s in hubs.client("ram").get_resource_shares(resourceOwner="SELF")["resourceShares"]
        ]
        assert names == ["shared-discovery"]

    def test_the_share_admits_accounts_outside_the_organization(self, hubs):
        (share,) = hubs.client("ram").get_resource_shares(resourceOwner="SELF")["resourceShares"]
        assert share["allowExternalPrincipals"] is True

    def test_shared_parameters_are_advanced_and_the_others_standard(self, hubs):
        assert set(tiers("shared").values()) == {"Advanced"}
        assert len(tiers("shared")) == len(ALL_LEAVES)
        # The advanced tier is charged per parameter: only when something is shared.
        assert set(tiers("plain").values()) == {"Standard"}


STANDARD_SHARED = """
Resources:
  Value:
    Type: AWS::SSM::Parameter
    Properties: { Name: /team/value, Type: String, Value: x }
  Share:
    Type: AWS::RAM::ResourceShare
    DependsOn: Value
    Properties:
      Name: team
      Principals: ["210987654321"]
      ResourceArns: [!Sub "arn:aws:ssm:${AWS::Region}:${AWS::AccountId}:parameter/team/value"]
"""


def test_a_standard_parameter_cannot_be_shared(tmp_path: Path):
    template = tmp_path / "template.yaml"
    template.write_text(STANDARD_SHARED)
    with mock_aws(), pytest.raises(StackError, match="advanced-tier"):
        deployer.deploy(template, stack_name="team")
