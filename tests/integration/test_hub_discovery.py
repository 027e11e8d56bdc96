"""Another stack finds the hub through Parameter Store, and another account is granted
exactly what a consumer needs: subscribe, and read claim checks.

The parameters and policies are read from the stack ``fanout.deploy.deployer.deploy`` creates in
moto. moto does not evaluate resource policies, so the cross-account decisions are made
by the repository's evaluator (``fanout.local.policy``) on the deployed policies: the
hub's side (the resource policy) is what this stack controls; the consumer account's
identity policy is modelled explicitly, since AWS requires both to allow a
cross-account request:
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic-cross-account.html
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from support.templates import resources_for

from consumers.runtime import __version__ as runtime_version
from fanout.deploy import deployer
from fanout.deploy.models import DeployedStack
from fanout.deploy.template import load_template
from fanout.local.policy import (
    SECURE_TRANSPORT,
    Decision,
    Principal,
    Request,
    evaluate,
    evaluate_cross_account,
)

ROOT = Path(__file__).resolve().parents[2]
HUB = ROOT / "template.yaml"
OTHER_ACCOUNT = "111122223333"
TEAM_ROLE = f"arn:aws:iam::{OTHER_ACCOUNT}:role/team"
# The consumer account's own side: its role may do anything on the hub's resources, so
# every decision below is the hub's resource policy speaking.
TEAM_IDENTITY = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": ["s3:*", "sns:*"], "Resource": "*"},
    ],
}
ORGANIZATION = "o-a1b2c3d4e5"
HUB_ACCOUNT = "123456789012"  # moto's default account
DISCOVERY = {
    "topic-arn": "TopicArn",
    "payload-bucket": "PayloadBucketName",
    "consumer-runtime-layer-arn": "ConsumerRuntimeLayerArn",
}


@pytest.fixture(autouse=True)
def _region(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")


@pytest.fixture(scope="module")
def granted():
    """The hub deployed with one consumer account."""
    with mock_aws():
        yield deployer.deploy(stack_name="hub", parameters={"ConsumerAccountIds": OTHER_ACCOUNT})


@pytest.fixture(scope="module")
def organization_hub(granted):
    """A second hub, granting ORGANIZATION, in the same moto as ``granted``."""
    return deployer.deploy(stack_name="org", parameters={"ConsumerOrganizationId": ORGANIZATION})


def statements_naming(resources: dict[str, Any], account: str) -> list[dict[str, Any]]:
    """Every topic and bucket policy statement whose principal names ``account`` or the
    ConsumerAccountIds parameter."""
    return [
        statement
        for resource in resources.values()
        if resource["Type"] in {"AWS::SNS::TopicPolicy", "AWS::S3::BucketPolicy"}
        for statement in resource["Properties"]["PolicyDocument"]["Statement"]
        if account in json.dumps(statement.get("Principal"))
        or "ConsumerAccountIds" in json.dumps(statement.get("Principal"))
    ]


class TestDiscoveryParameters:
    """The hub writes what a consumer needs under /fanout-hub/<stack>/."""

    @pytest.mark.parametrize(("name", "output"), DISCOVERY.items())
    def test_each_parameter_holds_the_stack_value(self, granted, name, output):
        # GIVEN the deployed hub WHEN a consumer reads the parameter by the hub's stack name
        prefix = granted.outputs["DiscoveryParameterPrefix"]
        value = boto3.client("ssm").get_parameter(Name=f"{prefix}{name}")["Parameter"]
        # THEN it is the String the stack's output names
        assert prefix == "/fanout-hub/hub/"
        assert value["Type"] == "String"
        assert value["Value"] == granted.outputs[output]

    def test_the_runtime_version_parameter_is_the_runtime_version(self, granted):
        value = boto3.client("ssm").get_parameter(Name="/fanout-hub/hub/consumer-runtime-version")
        assert value["Parameter"]["Value"] == runtime_version

    def test_no_key_parameter_without_a_customer_managed_key(self, granted):
        # The topic uses the AWS managed key alias/aws/sns and the buckets SSE-S3: there is
        # no key to name, so no kms-key-arn parameter (docs/deploy.md).
        names = {
            p["Name"]
            for p in boto3.client("ssm").get_parameters_by_path(Path="/fanout-hub/hub/")[
                "Parameters"
            ]
        }
        assert names == {
            "/fanout-hub/hub/topic-arn",
            "/fanout-hub/hub/payload-bucket",
            "/fanout-hub/hub/consumer-runtime-layer-arn",
            "/fanout-hub/hub/consumer-runtime-version",
            "/fanout-hub/hub/kit-url",
        }
        assert not any(
            r["Type"] in {"AWS::KMS::Key", "AWS::KMS::Alias"}
            for r in load_template(HUB)["Resources"].values()
        )

    def test_the_template_has_one_runtime_version(self):
        # One fact: consumers/runtime/__init__.py, read by the layer and the parameter.
        template = load_template(HUB)
        assert template["Mappings"]["ConsumerRuntime"]["Release"]["Version"] == runtime_version
        resources = resources_for(HUB)
        assert resources["ConsumerRuntimeVersionParameter"]["Properties"]["Value"] == (
            runtime_version
        )
        # and the template text spells it nowhere else
        assert HUB.read_text(encoding="utf-8").count(f'"{runtime_version}"') == 1

    def test_the_kit_is_released_with_the_runtime(self):
        # The kit's Serverless Application Repository version is the release's: a kit
        # published as 0.4.0 expects the 0.4.0 runtime layer.
        kit = load_template(ROOT / "consumers" / "kit" / "template.yaml")
        application = kit["Metadata"]["AWS::ServerlessRepo::Application"]
        assert application["SemanticVersion"] == runtime_version

    def test_deleting_the_stack_deletes_its_parameters(self, granted):
        # GIVEN another hub next to the module's one WHEN it is deleted
        other = deployer.deploy(stack_name="gone")
        deployer.delete(other)
        # THEN its parameters are gone and the module hub's stay
        ssm = boto3.client("ssm")
        assert ssm.get_parameters_by_path(Path="/fanout-hub/gone/")["Parameters"] == []
        assert len(ssm.get_parameters_by_path(Path="/fanout-hub/hub/")["Parameters"]) == 5

    def test_the_topic_arn_is_not_exported(self):
        # An imported export blocks replacing the topic (FifoMode replaces it):
        # https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/intrinsic-function-reference-importvalue.html
        outputs = load_template(HUB)["Outputs"]
        assert "Export" not in outputs["TopicArn"]


class TestNoGrantByDefault:
    """With ConsumerAccountIds empty, no other account is named anywhere."""

    def test_translated_policies_name_no_other_account(self):
        resources = resources_for(HUB)
        assert statements_naming(resources, OTHER_ACCOUNT) == []
        sids = {
            s.get("Sid")
            for r in resources.values()
            if r["Type"] in {"AWS::SNS::TopicPolicy", "AWS::S3::BucketPolicy"}
            for s in r["Properties"]["PolicyDocument"]["Statement"]
        }
        assert not sids & {
            "ConsumerAccountsSubscribe",
            "ConsumerAccountsReadClaimChecks",
            "ConsumerAccountsReadTheKit",
            "ConsumerOrganizationSubscribes",
            "ConsumerOrganizationReadsClaimChecks",
            "ConsumerOrganizationReadsTheKit",
        }
        assert not any(
            s.get("Principal") in ("*", {"AWS": "*"}) and s.get("Effect") == "Allow"
            for r in resources.values()
            if r["Type"] in {"AWS::SNS::TopicPolicy", "AWS::S3::BucketPolicy"}
            for s in r["Properties"]["PolicyDocument"]["Statement"]
        )

    def test_deployed_hub_grants_nothing_to_another_account(self):
        with mock_aws():
            hub = deployer.deploy(stack_name="plain")
            topic = hub.outputs["TopicArn"]
            policy = boto3.client("sns").get_topic_attributes(TopicArn=topic)["Attributes"][
                "Policy"
            ]
            # THEN the other account can neither subscribe nor read a claim check
            assert OTHER_ACCOUNT not in policy
            subscribe = Request(Principal(TEAM_ROLE), "sns:Subscribe", topic, SECURE_TRANSPORT)
            assert evaluate_cross_account(subscribe, [TEAM_IDENTITY], policy).decision is (
                Decision.IMPLICIT_DENY
            )
            # The deployer puts no bucket policy when only the TLS denial is left.
            s3 = boto3.client("s3")
            with pytest.raises(s3.exceptions.ClientError):
                s3.get_bucket_policy(Bucket=hub.outputs["PayloadBucketName"])


class TestConsumerAccountGrants:
    """ConsumerAccountIds=111122223333 grants Subscribe and claim-check reads, nothing more."""

    def test_translated_statements_are_exactly_subscribe_and_claim_check_reads(self):
        resources = resources_for(HUB, {"ConsumerAccountIds": OTHER_ACCOUNT})
        granted = statements_naming(resources, OTHER_ACCOUNT)
        assert sorted(s["Sid"] for s in granted) == [
            "ConsumerAccountsReadClaimChecks",
            "ConsumerAccountsReadTheKit",
            "ConsumerAccountsSubscribe",
        ]
        by_sid = {s["Sid"]: s for s in granted}
        subscribe, read = (
            by_sid["ConsumerAccountsSubscribe"],
            by_sid["ConsumerAccountsReadClaimChecks"],
        )
        assert (subscribe["Effect"], subscribe["Action"]) == ("Allow", "sns:Subscribe")
        assert subscribe["Resource"] == {"Ref": "Topic"}
        assert (read["Effect"], read["Action"]) == ("Allow", "s3:GetObject")
        assert read["Resource"] == [
            {"Fn::Sub": "${PayloadBucket.Arn}/envelopes/*"},
            {"Fn::Sub": "${PayloadBucket.Arn}/backfill/*"},
        ]
        assert "Condition" not in subscribe
        assert "Condition" not in read

    def test_account_ids_are_validated(self):
        with pytest.raises(Exception, match="ConsumerAccountIds"):
            resources_for(HUB, {"ConsumerAccountIds": "1111, 2222"})

    def test_deployed_policies_name_exactly_that_account(self, granted):
        topic_policy = json.loads(
            boto3.client("sns").get_topic_attributes(TopicArn=granted.outputs["TopicArn"])[
                "Attributes"
            ]["Policy"]
        )
        bucket_policy = json.loads(
            boto3.client("s3").get_bucket_policy(Bucket=granted.outputs["PayloadBucketName"])[
                "Policy"
            ]
        )
        naming = [
            s
            for s in topic_policy["Statement"] + bucket_policy["Statement"]
            if OTHER_ACCOUNT in json.dumps(s.get("Principal"))
        ]
        assert [(s["Principal"], s["Action"]) for s in naming] == [
            ({"AWS": [OTHER_ACCOUNT]}, "sns:Subscribe"),
            ({"AWS": [OTHER_ACCOUNT]}, "s3:GetObject"),
        ]

    @pytest.mark.parametrize(
        ("key", "expected"),
        [
            ("envelopes/x", Decision.ALLOW),
            ("backfill/x", Decision.ALLOW),
            ("dead-letters/x", Decision.IMPLICIT_DENY),
        ],
    )
    def test_the_other_accounts_role_reads_claim_checks_only(self, granted, key, expected):
        # GIVEN the bucket policy as deployed and a role of the other account allowed by
        # its own account to read anything
        bucket = granted.outputs["PayloadBucketName"]
        policy = boto3.client("s3").get_bucket_policy(Bucket=bucket)["Policy"]
        request = Request(
            Principal(TEAM_ROLE), "s3:GetObject", f"arn:aws:s3:::{bucket}/{key}", SECURE_TRANSPORT
        )
        # WHEN the cross-account request is evaluated THEN the hub's side decides
        assert evaluate_cross_account(request, [TEAM_IDENTITY], policy).decision is expected

    @pytest.mark.parametrize(
        ("action", "expected"),
        [
            ("sns:Subscribe", Decision.ALLOW),
            ("sns:Publish", Decision.EXPLICIT_DENY),  # only the router publishes
            ("sns:SetTopicAttributes", Decision.IMPLICIT_DENY),
        ],
    )
    def test_the_other_accounts_role_may_only_subscribe(self, granted, action, expected):
        topic = granted.outputs["TopicArn"]
        policy = boto3.client("sns").get_topic_attributes(TopicArn=topic)["Attributes"]["Policy"]
        request = Request(Principal(TEAM_ROLE), action, topic, SECURE_TRANSPORT)
        assert evaluate_cross_account(request, [TEAM_IDENTITY], policy).decision is expected

    def test_the_other_account_must_allow_its_role_too(self, granted):
        # The hub's grant alone is not enough: without the consumer account's identity
        # policy the role is denied (AWS requires both sides for cross-account).
        bucket = granted.outputs["PayloadBucketName"]
        policy = boto3.client("s3").get_bucket_policy(Bucket=bucket)["Policy"]
        request = Request(
            Principal(TEAM_ROLE),
            "s3:GetObject",
            f"arn:aws:s3:::{bucket}/envelopes/x",
            SECURE_TRANSPORT,
        )
        assert evaluate_cross_account(request, [], policy).decision is Decision.IMPLICIT_DENY

    def test_a_third_account_is_not_granted(self, granted):
        bucket = granted.outputs["PayloadBucketName"]
        policy = boto3.client("s3").get_bucket_policy(Bucket=bucket)["Policy"]
        request = Request(
            Principal("arn:aws:iam::444455556666:role/team"),
            "s3:GetObject",
            f"arn:aws:s3:::{bucket}/envelopes/x",
            SECURE_TRANSPORT,
        )
        assert evaluate_cross_account(request, [TEAM_IDENTITY], policy).decision is (
            Decision.IMPLICIT_DENY
        )


class TestRuntimeLayerGrants:
    """Another account may attach the runtime layer version only when the hub names it.

    Lambda: "To grant layer-usage permission to another account, add a statement to the
    layer version's permissions policy", one account or organization per statement.
    https://docs.aws.amazon.com/lambda/latest/dg/permissions-layer-cross-account.html
    """

    @staticmethod
    def layer_policy(hub: DeployedStack) -> dict[str, Any]:
        layer_arn = hub.outputs["ConsumerRuntimeLayerArn"]
        name, version = layer_arn.rsplit(":", 2)[-2:]
        policy = boto3.client("lambda").get_layer_version_policy(
            LayerName=name, VersionNumber=int(version)
        )["Policy"]
        return json.loads(policy)

    def test_each_listed_account_may_get_the_layer_version(self, granted):
        three = deployer.deploy(
            stack_name="three",
            parameters={"ConsumerAccountIds": "111111111111,222222222222,333333333333"},
        )
        statements = self.layer_policy(three)["Statement"]
        named = [
            account
            for statement in statements
            for account in ("111111111111", "222222222222", "333333333333")
            if account in json.dumps(statement["Principal"])
        ]
        assert sorted(named) == ["111111111111", "222222222222", "333333333333"]
        assert {s["Action"] for s in statements} == {"lambda:GetLayerVersion"}

    def test_one_account_gets_one_statement(self, granted):
        (statement,) = self.layer_policy(granted)["Statement"]
        assert OTHER_ACCOUNT in json.dumps(statement["Principal"])

    def test_an_organization_gets_one_statement_scoped_to_it(self):
        # moto's layer policy drops OrganizationId, so this is read from the template as
        # CloudFormation creates it.
        resources = resources_for(HUB, {"ConsumerOrganizationId": ORGANIZATION})
        (grant,) = [
            r["Properties"]
            for r in resources.values()
            if r["Type"] == "AWS::Lambda::LayerVersionPermission"
        ]
        assert grant["Principal"] == "*"
        assert grant["OrganizationId"] == {"Ref": "ConsumerOrganizationId"}
        assert grant["Action"] == "lambda:GetLayerVersion"

    def test_no_grant_by_default(self):
        resources = resources_for(HUB, {})
        assert [
            r for r in resources.values() if r["Type"] == "AWS::Lambda::LayerVersionPermission"
        ] == []

    def test_more_than_five_accounts_are_refused(self):
        six = ",".join(str(n) * 12 for n in range(1, 7))
        with pytest.raises(Exception, match="ConsumerAccountIds"):
            resources_for(HUB, {"ConsumerAccountIds": six})


class TestConsumerOrganizationGrants:
    """ConsumerOrganizationId grants the organization's other accounts the same two things."""

    def test_translated_statements_are_conditioned_on_the_organization(self):
        resources = resources_for(HUB, {"ConsumerOrganizationId": ORGANIZATION})
        found = {
            s["Sid"]: s
            for r in resources.values()
            if r["Type"] in {"AWS::SNS::TopicPolicy", "AWS::S3::BucketPolicy"}
            for s in r["Properties"]["PolicyDocument"]["Statement"]
            if "ConsumerOrganization" in s.get("Sid", "")
        }
        assert set(found) == {
            "ConsumerOrganizationSubscribes",
            "ConsumerOrganizationReadsClaimChecks",
            "ConsumerOrganizationReadsTheKit",
        }
        for statement in found.values():
            assert statement["Condition"] == {
                "StringEquals": {"aws:PrincipalOrgID": {"Ref": "ConsumerOrganizationId"}},
                "StringNotEquals": {"aws:PrincipalAccount": {"Ref": "AWS::AccountId"}},
            }
        assert found["ConsumerOrganizationSubscribes"]["Action"] == "sns:Subscribe"
        assert found["ConsumerOrganizationReadsClaimChecks"]["Action"] == "s3:GetObject"

    def test_organization_id_is_validated(self):
        with pytest.raises(Exception, match="ConsumerOrganizationId"):
            resources_for(HUB, {"ConsumerOrganizationId": "123456789012"})

    @pytest.mark.parametrize(
        ("org", "key", "expected"),
        [
            (ORGANIZATION, "envelopes/x", Decision.ALLOW),
            (ORGANIZATION, "dead-letters/x", Decision.IMPLICIT_DENY),
            ("o-otherorg000", "envelopes/x", Decision.IMPLICIT_DENY),
        ],
    )
    def test_only_the_organizations_accounts_read_claim_checks(
        self, organization_hub, org, key, expected
    ):
        # GIVEN a hub granting an organization
        hub = organization_hub
        bucket = hub.outputs["PayloadBucketName"]
        policy = boto3.client("s3").get_bucket_policy(Bucket=bucket)["Policy"]
        # WHEN a role of another account in (or out of) the organization reads
        request = Request(
            Principal(TEAM_ROLE),
            "s3:GetObject",
            f"arn:aws:s3:::{bucket}/{key}",
            {**SECURE_TRANSPORT, "aws:PrincipalOrgID": org},
        )
        assert evaluate_cross_account(request, [TEAM_IDENTITY], policy).decision is expected

    def test_the_organization_may_subscribe_but_not_publish(self, organization_hub):
        hub = organization_hub
        topic = hub.outputs["TopicArn"]
        policy = boto3.client("sns").get_topic_attributes(TopicArn=topic)["Attributes"]["Policy"]
        context = {**SECURE_TRANSPORT, "aws:PrincipalOrgID": ORGANIZATION}
        subscribe = Request(Principal(TEAM_ROLE), "sns:Subscribe", topic, context)
        publish = Request(Principal(TEAM_ROLE), "sns:Publish", topic, context)
        assert evaluate_cross_account(subscribe, [TEAM_IDENTITY], policy).decision is Decision.ALLOW
        assert evaluate_cross_account(publish, [TEAM_IDENTITY], policy).decision is (
            Decision.EXPLICIT_DENY
        )

    def test_the_hubs_own_roles_gain_nothing(self, organization_hub):
        # The hub account is in the organization too; its roles still get envelopes/ only
        # through their own identity policies (the operator's deliberately has none).
        hub = organization_hub
        bucket = hub.outputs["PayloadBucketName"]
        policy = boto3.client("s3").get_bucket_policy(Bucket=bucket)["Policy"]
        request = Request(
            Principal(f"arn:aws:iam::{HUB_ACCOUNT}:role/fanout-operator"),
            "s3:GetObject",
            f"arn:aws:s3:::{bucket}/envelopes/x",
            {**SECURE_TRANSPORT, "aws:PrincipalOrgID": ORGANIZATION},
        )
        assert evaluate(request, [], policy).decision is Decision.IMPLICIT_DENY


class TestDocs:
    """docs/deploy.md names what the template publishes and grants."""

    def test_every_parameter_and_grant_is_documented(self):
        deploy = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
        resources = load_template(HUB)["Resources"]
        names = [
            r["Properties"]["Name"]["Fn::Sub"]
            for r in resources.values()
            if r["Type"] == "AWS::SSM::Parameter"
        ]
        assert len(names) == len(DISCOVERY) + 2  # and the runtime version, the kit URL
        for name in names:
            prefix, leaf = name.rsplit("/", 1)
            assert prefix == "/fanout-hub/${AWS::StackName}"
            assert f"`{leaf}`" in deploy
        for sid in (
            "ConsumerAccountsSubscribe",
            "ConsumerAccountsReadClaimChecks",
            "ConsumerOrganizationSubscribes",
            "ConsumerOrganizationReadsClaimChecks",
            "ConsumerAccountsReadTheKit",
            "ConsumerOrganizationReadsTheKit",
            "ConsumerAccountIds",
            "ConsumerOrganizationId",
        ):
            assert sid in deploy
