"""Webhook targets that are not public HTTPS endpoints are refused.

Signed event bodies must never travel in clear text or to a non-HTTP scheme
(``file:``, ``ftp:``), so a bad ``WEBHOOK_URLS`` entry fails the function's
first invocation with a ``ConfigurationError`` naming the variable; the batch
is not acknowledged, so SQS keeps every message until the setting is fixed.

Nor may they reach inside: the Lambda runtime API on loopback, the metadata
service on link-local, a VPC's private addresses (``consumers.webhook.addresses``).
A literal internal address fails the cold start; a name is judged by what it
resolves to, per POST, and the connection goes to the address that was checked.
"""

from __future__ import annotations

import ipaddress
import json
import re
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from support.builders import FakeContext, load_event
from support.consumer_tables import create_pk_table
from support.secrets import UNREAD_SECRET_ARN, a_stored_secret
from support.webhook_receivers import (
    LOOPBACK,
    FakeResolver,
    Receiver,
    tls_receiver_context,
    trusting,
)

from consumers.runtime.errors import PermanentError
from consumers.webhook.addresses import Address, AddressPolicy, RefusedAddressError, parse_networks
from consumers.webhook.forwarder import (
    Forwarder,
    WebhookEnvironment,
    WebhookRejectedError,
    WebhookSettings,
)
from consumers.webhook.transport import Deadline, HttpTransport
from fanout.deploy.template import load_template
from fanout.local.demo import DEMO_PARAMETERS
from fanout.local.hub import LOCAL_WEBHOOK_ENV
from hubcommon.errors import ConfigurationError
from schemas import parse_envelope

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"
SECRET = "a-webhook-secret-of-some-length"

NOT_HTTPS = [
    "http://partner.example/hooks",
    "ftp://partner.example/hooks",
    "file:///etc/passwd",
    "javascript:alert(1)",
    "https://",
    "https:///no-host",
    "//partner.example/hooks",
    "partner.example/hooks",
    "https://ok.example/hooks,http://partner.example/hooks",
]


class TestSettings:
    """``WebhookEnvironment`` accepts absolute https URLs only."""

    @pytest.mark.parametrize("urls", NOT_HTTPS)
    def test_refuses(self, urls: str):
        with pytest.raises(ConfigurationError, match="WEBHOOK_URLS"):
            WebhookEnvironment.from_env(
                {"WEBHOOK_URLS": urls, "WEBHOOK_SECRET_ARN": UNREAD_SECRET_ARN}
            )

    def test_accepts_https(self):
        settings = WebhookEnvironment.from_env(
            {
                "WEBHOOK_URLS": "https://a.example/h, https://b.example:8443/h",
                "WEBHOOK_SECRET_ARN": UNREAD_SECRET_ARN,
            }
        )
        assert settings.urls == ("https://a.example/h", "https://b.example:8443/h")


class TestTemplate:
    """The template's WebhookUrls parameter refuses the same URLs before anything deploys."""

    def pattern(self) -> str:
        return str(load_template(TEMPLATE)["Parameters"]["WebhookUrls"]["AllowedPattern"])

    @pytest.mark.parametrize(
        "urls", [u for u in NOT_HTTPS if not u.startswith("https://")] + ["https://a b"]
    )
    def test_refuses(self, urls: str):
        # CloudFormation matches AllowedPattern against the whole value.
        assert re.fullmatch(self.pattern(), urls) is None

    def test_accepts_https_lists(self):
        assert re.fullmatch(self.pattern(), "https://a.example/h,https://b.example/h")


@pytest.fixture
def webhook(aws: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    sqs = boto3.client("sqs")
    dlq_url = sqs.create_queue(QueueName="webhook-dlq")["QueueUrl"]
    boto3.client("s3").create_bucket(Bucket="fanout-hub-payloads")
    create_pk_table(boto3.client("dynamodb"), "fanout-hub-idempotency")
    for name, value in {
        "CONSUMER_NAME": "webhook",
        "IDEMPOTENCY_TABLE": "fanout-hub-idempotency",
        "PAYLOAD_BUCKET": "fanout-hub-payloads",
        "DLQ_URL": dlq_url,
        "WEBHOOK_SECRET_ARN": a_stored_secret(SECRET),
    }.items():
        monkeypatch.setenv(name, value)
    from consumers.webhook import app

    app.handler.reset()
    yield app, sqs, dlq_url
    app.handler.reset()


class TestColdStart:
    """A function configured with a non-https target refuses to run and acknowledges nothing."""

    @pytest.mark.parametrize("urls", NOT_HTTPS[:4])
    def test_first_invocation_fails_and_keeps_the_batch(self, webhook, monkeypatch, urls: str):
        app, sqs, dlq_url = webhook
        monkeypatch.setenv("WEBHOOK_URLS", urls)
        record = {
            "messageId": "m-1",
            "receiptHandle": "h",
            "body": json.dumps(load_event("envelope-v1.json")),
            "attributes": {"ApproximateReceiveCount": "1"},
            "messageAttributes": {},
            "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:webhook",
        }

        with pytest.raises(ConfigurationError, match="WEBHOOK_URLS"):
            app.handler({"Records": [record]}, FakeContext(function_name="webhook"))

        assert sqs.receive_message(QueueUrl=dlq_url).get("Messages", []) == []


# ------------------------------------------------------------------ SSRF
REFUSED = [
    # (address, the class the refusal names)
    ("127.0.0.1", "loopback"),
    ("127.255.255.254", "loopback"),  # all of 127/8, not only .1
    ("::1", "loopback"),
    ("169.254.169.254", "link-local"),  # the instance metadata service
    ("169.254.170.2", "link-local"),
    ("fe80::1", "link-local"),
    ("10.0.0.1", "private"),
    ("172.16.0.1", "private"),
    ("172.31.255.255", "private"),
    ("192.168.1.1", "private"),
    ("fc00::1", "private"),
    ("fd00:ec2::254", "private"),  # the metadata service over IPv6
    ("fec0::1", "private"),  # site-local, deprecated but routable inside a site
    ("0.0.0.0", "unspecified"),  # noqa: S104 - reaches this host on Linux
    ("::", "unspecified"),
    ("224.0.0.1", "multicast"),
    ("239.255.255.250", "multicast"),
    ("ff02::1", "multicast"),
    ("240.0.0.1", "reserved"),
    ("255.255.255.255", "reserved"),
    ("::7f00:1", "reserved"),  # IPv4-compatible ::127.0.0.1, deprecated
    ("100.64.0.1", "not globally routable"),  # shared address space (carrier NAT)
    # IPv6 spellings of IPv4 addresses are judged by the IPv4 address
    ("::ffff:127.0.0.1", "loopback"),
    ("::ffff:169.254.169.254", "link-local"),
    ("::ffff:10.1.2.3", "private"),
    ("::ffff:0.0.0.0", "unspecified"),
    ("2002:7f00:1::", "loopback"),  # 6to4 of 127.0.0.1
    ("2002:a9fe:a9fe::", "link-local"),  # 6to4 of 169.254.169.254
    ("64:ff9b::a9fe:a9fe", "link-local"),  # NAT64 of 169.254.169.254
    ("64:ff9b::a00:1", "private"),  # NAT64 of 10.0.0.1
]
PUBLIC = [
    "8.8.8.8",
    "1.1.1.1",
    "2606:4700:4700::1111",
    "::ffff:8.8.8.8",
    "64:ff9b::808:808",
    "2002:808:808::",
]


class TestAddressClasses:
    """Every class of address a webhook could be aimed at internally is refused; public ones are not."""

    @pytest.mark.parametrize(("address", "expected"), REFUSED)
    def test_refused(self, address: str, expected: str):
        assert AddressPolicy().refusal(ipaddress.ip_address(address)) == expected

    @pytest.mark.parametrize("address", PUBLIC)
    def test_public_addresses_are_permitted(self, address: str):
        assert AddressPolicy().refusal(ipaddress.ip_address(address)) is None

    def test_an_allowed_network_opens_only_itself(self):
        policy = AddressPolicy(parse_networks("10.0.0.0/8, ::1/128"))
        assert policy.refusal(ipaddress.ip_address("10.20.30.40")) is None
        assert policy.refusal(ipaddress.ip_address("::ffff:10.20.30.40")) is None
        assert policy.refusal(ipaddress.ip_address("::1")) is None
        assert policy.refusal(ipaddress.ip_address("127.0.0.1")) == "loopback"
        assert policy.refusal(ipaddress.ip_address("192.168.0.1")) == "private"
        assert policy.refusal(ipaddress.ip_address("169.254.169.254")) == "link-local"


class NeverConnect:
    """A connector that records what it was asked to reach, and refuses."""

    def __init__(self) -> None:
        self.asked: list[list[str]] = []

    def __call__(self, addresses: list[Address], deadline: Deadline) -> socket.socket:
        self.asked.append([str(a.ip) for a in addresses])
        raise ConnectionRefusedError("refused by the test")


class TestResolvedAddresses:
    """A host name is judged by what it resolves to, once, and the socket goes to a checked address."""

    @pytest.mark.parametrize(("address", "expected"), REFUSED)
    def test_a_name_resolving_to_a_refused_address_is_never_connected(
        self, address: str, expected: str
    ):
        # GIVEN a public-looking name whose DNS answer is an internal address
        connector = NeverConnect()
        transport = HttpTransport(
            resolver=FakeResolver.always({"hooks.example.com": address}), connector=connector
        )
        # WHEN the webhook POSTs to it
        with pytest.raises(RefusedAddressError, match=expected) as error:
            transport.post("https://hooks.example.com/in", b"{}", {}, timeout=1)
        # THEN no connection was attempted, and the reason names the class, not the address
        assert connector.asked == []
        assert address not in str(error.value)

    def test_a_scoped_link_local_answer_is_refused(self):
        connector = NeverConnect()
        transport = HttpTransport(
            resolver=FakeResolver.always({"hooks.example.com": "fe80::1%lo"}), connector=connector
        )
        with pytest.raises(RefusedAddressError, match="link-local"):
            transport.post("https://hooks.example.com/in", b"{}", {}, timeout=1)
        assert connector.asked == []

    def test_only_permitted_answers_are_tried(self):
        # GIVEN a name with internal and public answers mixed
        connector = NeverConnect()
        resolver = FakeResolver({"hooks.example.com": [["10.0.0.7", "8.8.8.8", "127.0.0.1"]]})
        transport = HttpTransport(resolver=resolver, connector=connector)
        # WHEN the webhook POSTs to it
        with pytest.raises(ConnectionRefusedError):
            transport.post("https://hooks.example.com/in", b"{}", {}, timeout=1)
        # THEN only the public answer was handed to the connection
        assert connector.asked == [["8.8.8.8"]]

    def test_each_post_connects_to_what_it_checked_and_never_resolves_twice(self):
        # GIVEN a name (that real DNS cannot resolve) answering loopback first, then
        # the metadata service: the DNS-rebinding pattern
        resolver = FakeResolver({"hooks.invalid": [["127.0.0.1"], ["169.254.169.254"]]})
        transport = HttpTransport(AddressPolicy(parse_networks(LOOPBACK)), resolver=resolver)
        with Receiver() as receiver:
            # WHEN the webhook POSTs twice
            first = transport.post(receiver.url("hooks.invalid"), b"{}", {}, timeout=10)
            with pytest.raises(RefusedAddressError, match="link-local"):
                transport.post(receiver.url("hooks.invalid"), b"{}", {}, timeout=2)
        # THEN the first reached the checked address under the name's Host header, with
        # one lookup (real DNS would have failed: nothing resolved the name again), and
        # the second was refused on its own lookup before any connection
        assert first.status == 204
        assert resolver.calls == ["hooks.invalid", "hooks.invalid"]
        [request] = receiver.received
        assert request.headers["Host"] == f"hooks.invalid:{receiver.port}"

    def test_tls_names_the_host_while_connecting_to_its_checked_address(self, tmp_path):
        # GIVEN an HTTPS receiver whose certificate names hooks.test, reached through
        # a resolver that answers 127.0.0.1 for it
        context, cert = tls_receiver_context(tmp_path, "hooks.test")
        resolver = FakeResolver.always({"hooks.test": "127.0.0.1", "other.test": "127.0.0.1"})
        transport = HttpTransport(
            AddressPolicy(parse_networks(LOOPBACK)), resolver=resolver, tls=trusting(cert)
        )
        with Receiver(tls=context) as receiver:
            # WHEN the webhook POSTs to it by name
            response = transport.post(receiver.url("hooks.test"), b"{}", {}, timeout=5)
            # THEN SNI and Host carry the name, and the certificate was checked against it:
            # the same address under another name fails verification and sends nothing
            assert response.status == 204
            assert receiver.server_names[0] == "hooks.test"
            assert receiver.received[0].headers["Host"] == f"hooks.test:{receiver.port}"
            with pytest.raises(ssl.SSLCertVerificationError, match="Hostname mismatch"):
                transport.post(receiver.url("other.test"), b"{}", {}, timeout=5)
            assert len(receiver.received) == 1


class TestForwarderRefusal:
    """A refused endpoint is a permanent failure of that endpoint; the others are still delivered."""

    def test_the_event_is_rejected_for_good_and_the_others_delivered(self):
        # GIVEN an endpoint whose name resolves to a private address, and a healthy one
        resolver = FakeResolver.always({"internal.test": "10.0.0.1", "hooks.test": "127.0.0.1"})
        with Receiver() as healthy:
            settings = WebhookSettings(
                urls=("http://internal.test/in", healthy.url("hooks.test")),
                secret=SECRET,
                allowed_networks="127.0.0.1/32",
            )
            transport = HttpTransport(AddressPolicy(settings.allowed_networks), resolver=resolver)
            # WHEN an event is forwarded
            with pytest.raises(WebhookRejectedError, match="private") as error:
                Forwarder(settings, transport).deliver(
                    parse_envelope(load_event("envelope-v1.json"))
                )
        # THEN it is permanent (the DLQ at once: retrying resolves to the same refusal),
        # and the healthy endpoint has the event
        assert isinstance(error.value, PermanentError)
        assert len(healthy.received) == 1


LITERAL_INTERNAL = [
    "https://127.0.0.1/hooks",
    "https://169.254.169.254/latest/meta-data",
    "https://[::1]:8443/hooks",
    "https://[fd00:ec2::254]/latest",
    "https://10.0.0.1/hooks",
    "https://[::ffff:127.0.0.1]/hooks",
    "https://0.0.0.0/hooks",
]


class TestColdStartAddresses:
    """A literal internal address in WEBHOOK_URLS fails the cold start, unless allowed."""

    @pytest.mark.parametrize("url", LITERAL_INTERNAL)
    def test_refused(self, url: str):
        with pytest.raises(ConfigurationError, match=r"WEBHOOK_URLS.*WEBHOOK_ALLOWED_NETWORKS"):
            WebhookEnvironment.from_env(
                {"WEBHOOK_URLS": url, "WEBHOOK_SECRET_ARN": UNREAD_SECRET_ARN}
            )

    def test_accepted_when_its_network_is_allowed(self):
        settings = WebhookEnvironment.from_env(
            {
                "WEBHOOK_URLS": "https://10.0.0.1/hooks",
                "WEBHOOK_ALLOWED_NETWORKS": "10.0.0.0/8",
                "WEBHOOK_SECRET_ARN": UNREAD_SECRET_ARN,
            }
        )
        assert settings.allowed_networks == (ipaddress.ip_network("10.0.0.0/8"),)

    @pytest.mark.parametrize("networks", ["10.0.0.1/8", "not-a-network", "10.0.0.0/33", "::1/129"])
    def test_a_bad_allowed_network_names_the_variable(self, networks: str):
        with pytest.raises(ConfigurationError, match="WEBHOOK_ALLOWED_NETWORKS"):
            WebhookEnvironment.from_env(
                {
                    "WEBHOOK_URLS": "https://hooks.example.com/in",
                    "WEBHOOK_ALLOWED_NETWORKS": networks,
                    "WEBHOOK_SECRET_ARN": UNREAD_SECRET_ARN,
                }
            )

    def test_the_local_hub_lets_the_demo_reach_its_loopback_receiver(self):
        # The demo aims the webhook at a closed loopback port; the hub's environment
        # allows loopback so that the deliveries fail as connection errors (retried,
        # then redriven to the DLQ) rather than at cold start.
        settings = WebhookEnvironment.from_env(
            {
                "WEBHOOK_URLS": DEMO_PARAMETERS["WebhookUrls"],
                "WEBHOOK_SECRET_ARN": UNREAD_SECRET_ARN,
                **LOCAL_WEBHOOK_ENV,
            }
        )
        assert settings.urls == (DEMO_PARAMETERS["WebhookUrls"],)
