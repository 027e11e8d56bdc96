"""Why the local deployer leaves "deny unless TLS" statements out of bucket policies, and that it does.

The templates deny plain-HTTP requests to their buckets, as AWS advises
(https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingEncryptionInTransit.html#UsingEncryptionInTransit.enforcement).
moto's S3 checks a bucket's policy on every object request but counts any condition
operator other than ``StringEquals`` as met, so such a statement denies every object
request, in-process as on the moto server, HTTPS or not
(``fanout.deploy.moto_gaps.without_tls_denials``).
"""

from __future__ import annotations

import json

import boto3
import pytest
from support.templates import write

from fanout.deploy.deployer import deploy

TLS_ONLY = {
    "Sid": "DenyInsecureTransport",
    "Effect": "Deny",
    "Principal": "*",
    "Action": "s3:*",
    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
}


class TestMotoReadsItAsDenyAll:
    """The reason: in moto the statement denies every object request."""

    def test_moto_refuses_an_object_write_under_a_tls_only_policy(self, aws):
        # GIVEN a bucket whose policy denies requests made without TLS
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="tls-only")
        statement = {**TLS_ONLY, "Resource": ["arn:aws:s3:::tls-only", "arn:aws:s3:::tls-only/*"]}
        s3.put_bucket_policy(
            Bucket="tls-only",
            Policy=json.dumps({"Version": "2012-10-17", "Statement": [statement]}),
        )
        # WHEN an object is written through moto's in-process backend (no HTTP at all)
        # THEN moto refuses it. Should this pass one day, moto evaluates the condition and
        # the deployer can keep the statement.
        with pytest.raises(s3.exceptions.ClientError, match="403"):
            s3.put_object(Bucket="tls-only", Key="k", Body=b"x")


class TestTheDeployerDropsIt:
    """The deployed policy keeps every other statement, and the bucket takes objects."""

    def test_a_deployed_bucket_keeps_its_other_statements_and_takes_objects(self, aws, tmp_path):
        # GIVEN a template whose bucket policy has the TLS denial and a grant
        bucket_arn = {"Fn::GetAtt": ["Bucket", "Arn"]}
        objects = {"Fn::Sub": "${Bucket.Arn}/*"}
        grant = {
            "Sid": "ReadersMayRead",
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::210987654321:root"},
            "Action": "s3:GetObject",
            "Resource": objects,
        }
        template = write(
            tmp_path,
            {
                "Bucket": {"Type": "AWS::S3::Bucket"},
                "BucketPolicy": {
                    "Type": "AWS::S3::BucketPolicy",
                    "Properties": {
                        "Bucket": {"Ref": "Bucket"},
                        "PolicyDocument": {
                            "Version": "2012-10-17",
                            "Statement": [{**TLS_ONLY, "Resource": [bucket_arn, objects]}, grant],
                        },
                    },
                },
            },
        )
        # WHEN it is deployed
        stack = deploy(template, stack_name="tls")
        bucket = stack.physical_ids["Bucket"]
        # THEN the policy holds the grant alone, and objects are written and read
        s3 = boto3.client("s3")
        policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
        assert [s["Sid"] for s in policy["Statement"]] == ["ReadersMayRead"]
        s3.put_object(Bucket=bucket, Key="k", Body=b"x")
        assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"x"
