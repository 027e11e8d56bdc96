"""The webhook against endpoints that misbehave, and events whose headers need encoding.

Every test talks to real local receivers on 127.0.0.1 (``support.webhook_receivers``)
through the webhook's real transport; the local hub allows loopback the same way.
"""

from __future__ import annotations

import json
import socket
import time
from urllib.parse import unquote

import pytest
from consumer_builders import an_envelope, an_sqs_event, an_sqs_record, failed_ids
from support.builders import FakeContext
from support.webhook_receivers import (
    LOOPBACK,
    SIGNING_KEY,
    Receiver,
    dripped_body,
    dripped_status_line,
    forwarding,
    ledgered,
    raw,
    redirect,
)

from consumers.webhook.addresses import AddressPolicy, parse_networks
from consumers.webhook.forwarder import (
    Forwarder,
    WebhookRetryableError,
    WebhookSettings,
    header_value,
)
from consumers.webhook.transport import HttpTransport
from schemas import parse_envelope

SECRET = SIGNING_KEY


def with_type(event_type: str) -> str:
    """An envelope from the real router, its type replaced."""
    envelope = json.loads(an_envelope())
    envelope["type"] = event_type
    return json.dumps(envelope, ensure_ascii=False)


HOSTILE_TYPES = [
    "заказ.создан",  # Cyrillic: outside Latin-1
    "订单.created",
    "order.✓",
    "order.😀",  # outside the BMP (a surrogate pair in JSON)
    "order.café",  # Latin-1 but not ASCII
    "order created",  # a space
    'order."quoted"',
    "order.100%",  # a literal percent must not read as an escape
    "order.created\r\nX-Injected: yes",  # a header injection attempt
    "order.\x00\x7f\x85",  # control characters
]


class TestEventHeaders:
    """Headers built from the event are ASCII-safe: every type is delivered, none injects."""

    @pytest.mark.parametrize("event_type", HOSTILE_TYPES)
    def test_any_type_is_delivered_to_every_endpoint_and_reads_back(self, consumer_env, event_type):
        # GIVEN two endpoints and an event whose type no raw header could carry
        with Receiver() as first, Receiver() as second:
            body = with_type(event_type)
            record = an_sqs_record(body)
            # WHEN the webhook forwards it
            response = forwarding(first, second)(an_sqs_event(record), FakeContext())
            # THEN both endpoints got it once, and the header decodes to the type
            assert failed_ids(response) == []
            for endpoint in (first, second):
                [request] = endpoint.received
                sent = request.headers["X-Fanout-Event-Type"]
                assert sent.isascii()
                assert unquote(sent) == event_type
                assert json.loads(request.body)["type"] == event_type
                assert "X-Injected" not in request.headers

    def test_plain_types_and_ids_are_sent_unchanged(self):
        # The encoding leaves every printable ASCII character but space, " and % alone.
        assert header_value("order.created") == "order.created"
        assert header_value("a:b/c?d=e&f+g~h") == "a:b/c?d=e&f+g~h"
        assert header_value('a b"c%d') == "a%20b%22c%25d"
        assert header_value("é") == "%C3%A9"

    def test_a_lone_surrogate_still_encodes(self):
        # JSON allows "\ud800"; the header must not be the place such an event fails.
        assert header_value("order.\ud800") == "order.%ED%A0%80"


# How long a request cut off at its sub-second deadline may take here, at most: far
# below what each endpoint would hold it without the deadline (a drip of 100,000 bytes
# lasts 2,000 s or more; a silent or deaf peer, for ever), and far above the deadline,
# so a loaded machine that schedules the test late does not fail it (a fresh-clone
# run on a loaded 2-core machine took 5.0 s for a 0.5 s deadline).
CUT_OFF_BOUND = 30.0


class TestDeadline:
    """One deadline bounds the whole request; dripping endpoints are cut off and retried."""

    @pytest.mark.parametrize(
        "drip", [dripped_status_line(every=0.05), dripped_body(every=0.05)], ids=["head", "body"]
    )
    def test_a_dripping_endpoint_is_cut_off_and_the_others_are_delivered(self, consumer_env, drip):
        # GIVEN an endpoint sending one byte every 50 ms, well within any per-read
        # timeout, ahead of a healthy endpoint; a 0.5 s deadline per request
        with Receiver(answers=[drip]) as dripping, Receiver() as healthy:
            record = an_sqs_record(an_envelope())
            started = time.monotonic()
            # WHEN the event is forwarded
            response = forwarding(dripping, healthy, timeout=0.5)(
                an_sqs_event(record), FakeContext()
            )
            elapsed = time.monotonic() - started
            # THEN the message is retried, the healthy endpoint has it, and the drip held
            # the delivery about the deadline, not the 100 s its body would take
            assert failed_ids(response) == [record["messageId"]]
            assert len(healthy.received) == 1
            assert 0.5 <= elapsed < CUT_OFF_BOUND

    def test_the_transport_raises_timeout_at_the_deadline(self):
        with Receiver(answers=[dripped_status_line(every=0.02)]) as dripping:
            transport = HttpTransport(AddressPolicy(parse_networks(LOOPBACK)))
            started = time.monotonic()
            with pytest.raises(TimeoutError):
                transport.post(dripping.url(), b"{}", {}, timeout=0.3)
            assert time.monotonic() - started < CUT_OFF_BOUND

    def test_a_silent_tls_handshake_is_under_the_deadline_too(self):
        # GIVEN a port that accepts TCP connections and never says a word (no ServerHello)
        with socket.create_server(("127.0.0.1", 0)) as silent:
            port = silent.getsockname()[1]
            transport = HttpTransport(AddressPolicy(parse_networks(LOOPBACK)))
            started = time.monotonic()
            # WHEN the webhook POSTs to it over https
            with pytest.raises(TimeoutError):
                transport.post(f"https://127.0.0.1:{port}/hook", b"{}", {}, timeout=0.3)
            # THEN it gives up at the deadline
            assert time.monotonic() - started < CUT_OFF_BOUND

    def test_an_endpoint_that_never_reads_cannot_stall_the_send(self):
        # GIVEN a port that accepts connections and never reads, and a body larger than
        # the kernel's socket buffers hold
        with socket.create_server(("127.0.0.1", 0)) as deaf:
            port = deaf.getsockname()[1]
            transport = HttpTransport(AddressPolicy(parse_networks(LOOPBACK)))
            started = time.monotonic()
            # WHEN the webhook POSTs to it
            with pytest.raises(TimeoutError):
                transport.post(f"http://127.0.0.1:{port}/hook", b"x" * 32_000_000, {}, timeout=0.3)
            # THEN sending stops at the deadline
            assert time.monotonic() - started < CUT_OFF_BOUND


MALFORMED = {
    "not-http": b"SMTP ready\r\n\r\n",
    "bad-status-code": b"HTTP/1.1 2OO OK\r\nContent-Length: 0\r\n\r\n",
    "header-line-too-long": b"HTTP/1.1 200 OK\r\nX-Long: " + b"a" * 70_000 + b"\r\n\r\n",
    "too-many-headers": b"HTTP/1.1 200 OK\r\n" + b"X-H: 1\r\n" * 101 + b"\r\n",
    "bad-chunk-size": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    "short-body": b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",
    "closed-without-answer": b"",
}


class TestMalformedResponses:
    """A malformed answer is a retry that releases the claim; other endpoints are still tried."""

    @pytest.mark.parametrize("answer", MALFORMED.values(), ids=MALFORMED.keys())
    def test_retried_claim_released_others_delivered(self, consumer_env, monkeypatch, answer):
        # GIVEN a broken endpoint ahead of a healthy one, with per-endpoint claims
        with Receiver(answers=[raw(answer)]) as broken, Receiver() as healthy:
            handler = ledgered(monkeypatch, broken, healthy)
            body = an_envelope()
            record = an_sqs_record(body)
            # WHEN the event is forwarded, then retried once the endpoint answers well
            first = handler(an_sqs_event(record), FakeContext())
            second = handler(an_sqs_event(an_sqs_record(body, receive_count=2)), FakeContext())
            # THEN the first attempt is a retry, yet the healthy endpoint got the event;
            # the retry reaches the broken endpoint again (its claim was released, not
            # left to expire) and does not POST the healthy one twice
            assert failed_ids(first) == [record["messageId"]]
            assert failed_ids(second) == []
            assert len(broken.received) == 2
            assert len(healthy.received) == 1

    def test_the_reason_names_the_error_not_the_endpoints_bytes(self):
        # GIVEN an endpoint whose garbage answer holds a secret-looking value
        garbage = b"AKIAIOSFODNN7EXAMPLE hello\r\n\r\n"
        with Receiver(answers=[raw(garbage)]) as broken:
            settings = WebhookSettings(
                urls=(broken.url(),), secret=SECRET, allowed_networks=LOOPBACK
            )
            # WHEN the event is forwarded
            with pytest.raises(WebhookRetryableError) as error:
                Forwarder(settings).deliver(parse_envelope(an_envelope()))
        # THEN the reason (what the DLQ and the logs get) names the error's type only
        assert "malformed response (BadStatusLine)" in str(error.value)
        assert "AKIA" not in str(error.value)


class TestRedirects:
    """No redirect is followed: a 3xx fails that endpoint for good (DLQ), others are delivered."""

    @pytest.mark.parametrize("code", [301, 302, 303, 307, 308])
    def test_not_followed_and_dead_lettered(self, consumer_env, consumer_aws, code):
        # GIVEN an endpoint redirecting to another receiver, and a healthy endpoint
        with (
            Receiver() as elsewhere,
            Receiver(answers=[redirect(code, elsewhere.url(path="/stolen"))]) as moved,
            Receiver() as healthy,
        ):
            # WHEN the event is forwarded
            response = forwarding(moved, healthy)(
                an_sqs_event(an_sqs_record(an_envelope())), FakeContext()
            )
            # THEN nothing reached the redirect's target, the healthy endpoint got the
            # event, and the message went to the DLQ at once with the status as reason
            assert elsewhere.received == []
            assert len(healthy.received) == 1
            assert failed_ids(response) == []
        [letter] = consumer_aws.dead_letters()
        attributes = letter["MessageAttributes"]
        assert attributes["fanout-error-type"]["StringValue"] == "WebhookRejectedError"
        assert f"HTTP {code}" in attributes["fanout-error"]["StringValue"]
