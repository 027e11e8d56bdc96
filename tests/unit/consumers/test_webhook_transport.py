"""The webhook's HTTPS transport: certificates are verified, and one TLS context serves every POST."""

from __future__ import annotations

import ssl
from collections.abc import Iterator

import pytest
from support.webhook_receivers import LOOPBACK

from consumers.webhook import transport as transport_module
from consumers.webhook.addresses import AddressPolicy, parse_networks
from consumers.webhook.transport import HttpTransport
from fanout.chaos.receiver import WebhookReceiver
from fanout.local.faults import FaultPlan, FaultRates


def local_transport() -> HttpTransport:
    """The webhook's transport, allowed to reach this machine's loopback (as the local hub is)."""
    return HttpTransport(AddressPolicy(parse_networks(LOOPBACK)))


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver(FaultPlan(0, FaultRates()), lambda: "", "secret").start()
    yield receiver
    receiver.stop()


def test_an_untrusted_certificate_is_refused(receiver, monkeypatch, tmp_path):
    """GIVEN an endpoint whose self-signed certificate nobody trusts WHEN posting THEN TLS fails."""
    empty_bundle = tmp_path / "no-cas.pem"
    empty_bundle.write_text("")
    monkeypatch.setenv("SSL_CERT_FILE", str(empty_bundle))
    with pytest.raises(ssl.SSLCertVerificationError, match="CERTIFICATE_VERIFY_FAILED"):
        local_transport().post(receiver.urls[0], b"{}", {}, timeout=5)
    assert receiver.deliveries == []


def test_every_post_reuses_one_tls_context(receiver, monkeypatch):
    """GIVEN a trusted endpoint WHEN posting three times THEN each is answered and one context is built."""
    monkeypatch.setenv("SSL_CERT_FILE", str(receiver.cert_path))
    built: list[ssl.SSLContext] = []
    create_default_context = ssl.create_default_context

    def counting_context() -> ssl.SSLContext:
        context = create_default_context()
        built.append(context)
        return context

    monkeypatch.setattr(transport_module.ssl, "create_default_context", counting_context)
    transport = local_transport()
    statuses = [transport.post(receiver.urls[0], b"{}", {}, timeout=5).status for _ in range(3)]
    # unsigned bodies: the receiver answers 401, returned as a status rather than raised
    assert statuses == [401, 401, 401]
    assert len(receiver.deliveries) == 3
    assert len(built) == 1
    assert built[0].verify_mode == ssl.CERT_REQUIRED
    assert built[0].check_hostname
