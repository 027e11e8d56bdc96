"""The hub publishes the consumer kit as an immutable, versioned artifact other accounts can read.

Deployed with ``fanout.deploy.deployer.deploy`` in moto. moto cannot decide who may read
an object (it matches no statement's principal against the caller, and evaluates no
condition but ``StringEquals``), so who may read the kit is decided by
``fanout.local.policy`` on the deployed policy; CloudFormation reads a nested stack's
``TemplateURL`` with the deployer's permissions:
https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/using-iam-template.html
"""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from consumers.runtime import __version__ as runtime_version
from fanout.cli import main
from fanout.connection import Connection
from fanout.crossaccount import account_root
from fanout.deploy import deployer
from fanout.deploy.template import TEMPLATE, load_template
from fanout.kit import (
    KIT_TEMPLATE,
    KitVersionExistsError,
    kit_key,
    kit_location,
    publish_kit,
)
from fanout.local.policy import SECURE_TRANSPORT, Decision, Request, evaluate_cross_account

HUB_ACCOUNT = "123456789012"  # moto's default account
TEAM_ACCOUNT = "210987654321"
BUCKET = f"hub-artifacts-{HUB_ACCOUNT}-us-east-1"


@pytest.fixture(autouse=True)
def _region(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")


@pytest.fixture(scope="module")
def hub():
    """The hub granting TEAM_ACCOUNT, in a moto of its own."""
    with mock_aws():
        yield deployer.deploy(stack_name="hub", parameters={"ConsumerAccountIds": TEAM_ACCOUNT})


def kit_read(bucket: str, key: str, account: str) -> Decision:
    """Whether ``account`` (as CloudFormation deploying its stack) may read ``key``."""
    policy = boto3.client("s3").get_bucket_policy(Bucket=bucket)["Policy"]
    request = Request(
        account_root(account), "s3:GetObject", f"arn:aws:s3:::{bucket}/{key}", SECURE_TRANSPORT
    )
    return evaluate_cross_account(request, [], policy).decision


class TestArtifactsBucket:
    """One bucket per hub stack, named before anything is looked up, closed to the public."""

    def test_the_name_is_the_stack_account_and_region(self, hub):
        assert hub.outputs["ArtifactsBucketName"] == BUCKET

    def test_versioned_encrypted_and_never_public(self, hub):
        s3 = boto3.client("s3")
        assert s3.get_bucket_versioning(Bucket=BUCKET)["Status"] == "Enabled"
        block = s3.get_public_access_block(Bucket=BUCKET)["PublicAccessBlockConfiguration"]
        assert all(block.values())
        assert len(block) == 4
        rules = s3.get_bucket_encryption(Bucket=BUCKET)["ServerSideEncryptionConfiguration"]
        assert rules["Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"

    def test_the_template_denies_plain_http(self):
        # The deployer drops this statement locally (moto_gaps.without_tls_denials: moto would
        # deny every object request with it).
        resources = load_template(TEMPLATE)["Resources"]
        statements = resources["ArtifactsBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
        deny = statements[0]
        assert (deny["Effect"], deny["Action"]) == ("Deny", "s3:*")
        assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}

    def test_the_kit_url_is_in_parameter_store_and_the_outputs(self, hub):
        expected = kit_location(BUCKET, "us-east-1", runtime_version)
        parameter = boto3.client("ssm").get_parameter(Name="/fanout-hub/hub/kit-url")
        assert parameter["Parameter"]["Value"] == expected
        assert hub.outputs["KitUrl"] == expected
        assert expected == (
            f"https://{BUCKET}.s3.us-east-1.amazonaws.com/consumer-kit/{runtime_version}/template.yaml"
        )

    @pytest.mark.parametrize(
        ("key", "account", "expected"),
        [
            (kit_key(runtime_version), TEAM_ACCOUNT, Decision.ALLOW),
            ("other/file", TEAM_ACCOUNT, Decision.IMPLICIT_DENY),
            (kit_key(runtime_version), "444455556666", Decision.IMPLICIT_DENY),
        ],
    )
    def test_consumer_accounts_read_the_kit_and_nothing_else(self, hub, key, account, expected):
        assert kit_read(BUCKET, key, account) is expected

    def test_without_consumer_accounts_no_other_account_reads_it(self):
        with mock_aws():
            plain = deployer.deploy(stack_name="plain")
            bucket = plain.outputs["ArtifactsBucketName"]
            s3 = boto3.client("s3")
            # Only the TLS denial is left, which the deployer drops locally: no policy.
            with pytest.raises(s3.exceptions.ClientError):
                s3.get_bucket_policy(Bucket=bucket)
            request = Request(
                account_root(TEAM_ACCOUNT),
                "s3:GetObject",
                f"arn:aws:s3:::{bucket}/{kit_key(runtime_version)}",
                SECURE_TRANSPORT,
            )
            assert evaluate_cross_account(request, [], {"Statement": []}).decision is (
                Decision.IMPLICIT_DENY
            )


class TestPublish:
    """A version is published once; the same bytes again are fine, other bytes are refused."""

    def test_publish_uploads_the_kit_under_its_version(self, hub):
        # GIVEN the deployed hub WHEN the kit is published
        url = publish_kit(Connection(region="us-east-1"), BUCKET)
        # THEN the object is the kit template, at the version's key, and the URL names it
        body = boto3.client("s3").get_object(Bucket=BUCKET, Key=kit_key(runtime_version))["Body"]
        assert body.read() == KIT_TEMPLATE.read_bytes()
        assert url == kit_location(BUCKET, "us-east-1", runtime_version)

    def test_the_same_kit_again_is_a_no_op(self, hub):
        clients = Connection(region="us-east-1")
        publish_kit(clients, BUCKET)
        versions = boto3.client("s3").list_object_versions(
            Bucket=BUCKET, Prefix=kit_key(runtime_version)
        )["Versions"]
        publish_kit(clients, BUCKET)
        again = boto3.client("s3").list_object_versions(
            Bucket=BUCKET, Prefix=kit_key(runtime_version)
        )["Versions"]
        assert len(again) == len(versions) == 1

    def test_another_kit_under_a_published_version_is_refused(self, hub, tmp_path):
        clients = Connection(region="us-east-1")
        publish_kit(clients, BUCKET)
        changed = tmp_path / "template.yaml"
        changed.write_text(KIT_TEMPLATE.read_text() + "\n# changed\n")
        # WHEN a different template is published under the same version
        with pytest.raises(KitVersionExistsError, match="never changes"):
            publish_kit(clients, BUCKET, template=changed)
        # THEN the published kit is unchanged
        body = boto3.client("s3").get_object(Bucket=BUCKET, Key=kit_key(runtime_version))["Body"]
        assert body.read() == KIT_TEMPLATE.read_bytes()

    def test_a_new_version_is_published_beside_the_old_one(self, hub, tmp_path):
        clients = Connection(region="us-east-1")
        publish_kit(clients, BUCKET)
        changed = tmp_path / "template.yaml"
        changed.write_text(KIT_TEMPLATE.read_text() + "\n# next\n")
        url = publish_kit(clients, BUCKET, template=changed, version="9.9.9")
        assert url.endswith("/consumer-kit/9.9.9/template.yaml")
        s3 = boto3.client("s3")
        keys = {o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]}
        assert {kit_key(runtime_version), kit_key("9.9.9")} <= keys


class TestCommand:
    """``fanout kit publish`` prints the Location URL; exit 1 when the version is taken."""

    def test_publish_prints_the_location(self, hub, monkeypatch, capsys):
        # No running local hub: the command talks to the SDK's endpoint (moto here).
        monkeypatch.setattr("fanout.local.hub.load_state", lambda: None)
        code = main(["kit", "publish", "--stack-name", "hub", "--region", "us-east-1"])
        assert code == 0
        assert capsys.readouterr().out.strip() == kit_location(BUCKET, "us-east-1", runtime_version)

    def test_a_changed_kit_is_refused_with_exit_1(self, hub, monkeypatch, tmp_path, capsys):
        monkeypatch.setattr("fanout.local.hub.load_state", lambda: None)
        publish_kit(Connection(region="us-east-1"), BUCKET)
        changed = tmp_path / "template.yaml"
        changed.write_text("changed: true\n")
        code = main(
            [
                "kit",
                "publish",
                "--stack-name",
                "hub",
                "--region",
                "us-east-1",
                "--template",
                str(changed),
            ]
        )
        assert code == 1
        assert "never changes" in capsys.readouterr().err

    def test_a_stack_without_the_bucket_is_exit_2(self, hub, monkeypatch, capsys):
        monkeypatch.setattr("fanout.local.hub.load_state", lambda: None)
        code = main(["kit", "publish", "--stack-name", "nope", "--region", "us-east-1"])
        assert code == 2
        assert "nope" in capsys.readouterr().err
