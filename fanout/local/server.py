"""The embedded AWS stand-in: a moto server on loopback (in this process or a child) and a free port.

Everything else in ``fanout.local`` only needs an endpoint URL, so LocalStack or
a real account works by passing ``--endpoint-url`` (or none at all for AWS).
"""

from __future__ import annotations

import functools
import logging
import os
import socket
import subprocess  # nosec B404 - starts moto's own server module, no shell
import sys
import threading
import time
import urllib.error
import urllib.request
from types import TracebackType
from typing import Any, Final, Self

LOOPBACK: Final = "127.0.0.1"
# moto accepts any credentials; these make sure a stray client can never reach AWS
# with real ones while talking to the local endpoint.
FAKE_CREDENTIALS: Final = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",  # nosec B105 - moto's fake credentials
    "AWS_SESSION_TOKEN": "testing",  # nosec B105 - moto's fake credentials
}


def local_session(region: str | None = None) -> Any:
    """A boto3 session with ``FAKE_CREDENTIALS``: for the local endpoint, never for AWS."""
    import boto3  # noqa: PLC0415 - the server module itself needs no SDK

    return boto3.session.Session(
        aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        region_name=region or "us-east-1",
    )


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


class MotoEndpoint:
    """A ThreadedMotoServer on 127.0.0.1, started and stopped with the hub."""

    def __init__(self, port: int | None = None, *, quiet: bool = True) -> None:
        self.port = port or free_port()
        self.url = f"http://{LOOPBACK}:{self.port}"
        self._quiet = quiet
        self._server: object | None = None

    def start(self) -> str:
        """Start the server and return its URL once it answers."""
        from moto.server import ThreadedMotoServer  # noqa: PLC0415 - only the embedded endpoint needs moto

        if self._quiet:
            # werkzeug logs every request at INFO: that drowns the demo's output.
            logging.getLogger("werkzeug").setLevel(logging.ERROR)
        prepare_moto()
        server = ThreadedMotoServer(ip_address=LOOPBACK, port=self.port, verbose=not self._quiet)
        server.start()
        self._server = server
        self.reset()
        return self.url

    def reset(self) -> None:
        """Forget every resource (moto's reset API): a clean account."""
        reset_moto(self.url)

    def stop(self) -> None:
        """Stop the server (idempotent)."""
        server, self._server = self._server, None
        if server is not None:
            server.stop()  # type: ignore[attr-defined]

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def cache_moto_routing() -> None:
    """Make moto's server list its service modules once, not on every request.

    moto's werkzeug app routes each request by listing its package folder and
    checking every entry (``moto.backends.list_of_moto_modules``): about a fifth of
    the server's time per request in a profile of the local hub. The folder does
    not change while the server runs. Idempotent.
    """
    import moto.backends  # noqa: PLC0415 - only a local moto server needs moto

    listed = moto.backends.list_of_moto_modules
    if getattr(listed, "cache_info", None) is None:
        moto.backends.list_of_moto_modules = functools.cache(lambda: tuple(listed()))


def deliver_across_accounts() -> None:
    """Make moto's SNS deliver to a subscribed queue in the queue's own account. Idempotent.

    moto sends an SQS subscription's messages to the queue of that name in the
    *subscription's* account, so a queue of another account subscribed to the hub's
    topic never receives anything. SNS delivers to the queue the endpoint ARN names, in
    whatever account, if its queue policy allows the topic:
    https://docs.aws.amazon.com/sns/latest/dg/sns-send-message-to-sqs-cross-account.html
    The subscription's owner (its ``Owner`` attribute) is unchanged.
    """
    from moto.sns.models import SNSBackend, Subscription  # noqa: PLC0415 - only a local moto server

    original = SNSBackend.subscribe
    if getattr(original, "delivers_across_accounts", False):
        return

    def subscribe(self: SNSBackend, topic_arn: str, endpoint: str, protocol: str) -> Subscription:
        subscription = original(self, topic_arn, endpoint, protocol)
        if protocol == "sqs" and endpoint.count(":") >= 5:  # noqa: PLR2004 - arn:aws:sqs:region:account:name
            subscription.account_id = endpoint.split(":")[4]
        return subscription

    subscribe.delivers_across_accounts = True  # type: ignore[attr-defined]
    SNSBackend.subscribe = subscribe  # type: ignore[method-assign]


def share_parameters_through_ram() -> None:
    """Let moto's RAM share Parameter Store parameters, as RAM does since 2024. Idempotent.

    moto's list of shareable resource types predates it ("You cannot share the selected
    resource type"): https://docs.aws.amazon.com/systems-manager/latest/userguide/parameter-store-shared-parameters.html
    The advanced tier it requires is checked by the deployer (``fanout.deploy``).
    """
    from moto.ram.models import ResourceShare  # noqa: PLC0415 - only a local moto server

    if "parameter" not in ResourceShare.SHAREABLE_RESOURCES:
        ResourceShare.SHAREABLE_RESOURCES.append("parameter")


def prepare_moto() -> None:
    """What every local moto server gets: cached routing, cross-account delivery and shares."""
    cache_moto_routing()
    deliver_across_accounts()
    share_parameters_through_ram()
    serialize_item_writes()


# Reentrant: moto's TransactWriteItems writes through its own PutItem and DeleteItem.
_ITEM_WRITES: Final = threading.RLock()


def serialize_item_writes() -> None:
    """Make moto's DynamoDB item writes atomic, as DynamoDB's are. Idempotent.

    "Individual write operations such as UpdateItem are atomic and always operate on
    the most recent version of the item, regardless of concurrency":
    https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/BestPractices_ImplementingVersionControl.html
    moto evaluates a write's condition and then stores the item with no lock, so two
    threads writing the same item on condition (the consumers' idempotency claims and
    ``apply_if_newer``) could both succeed: a double apply that DynamoDB never allows.

    Only writes through the backend's item API are serialised (PartiQL writes, unused
    here, are not), and reads are not isolated from them. The lock is held while moto
    appends the change to the table's stream, which runs moto's own event source
    mappings inline; the deployer only records those (``fanout.deploy.moto_gaps``), so
    no handler runs under the lock.
    """
    from moto.dynamodb.models import DynamoDBBackend  # noqa: PLC0415 - only a local moto server

    for name in ("put_item", "update_item", "delete_item", "transact_write_items"):
        original = getattr(DynamoDBBackend, name)
        if not getattr(original, "serialized", False):
            setattr(DynamoDBBackend, name, _under_item_lock(original))


def _under_item_lock(write: Any) -> Any:
    @functools.wraps(write)
    def serialized(*args: Any, **kwargs: Any) -> Any:
        with _ITEM_WRITES:
            return write(*args, **kwargs)

    serialized.serialized = True  # type: ignore[attr-defined]
    return serialized


_MOTO_MAIN: Final = """
import logging, sys
from moto.server import main
from fanout.local.server import prepare_moto
logging.getLogger("werkzeug").setLevel(logging.ERROR)
prepare_moto()
main(sys.argv[1:])
"""


class MotoProcess:
    """A moto server in a child process: its CPU runs beside the handlers', not under their GIL.

    The embedded ``MotoEndpoint`` shares this process (and one core) with every
    handler and poller; a long run gets a second core by moving moto out.
    """

    def __init__(self, port: int | None = None, *, startup_seconds: float = 30.0) -> None:
        self.port = port or free_port()
        self.url = f"http://{LOOPBACK}:{self.port}"
        self._startup = startup_seconds
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> str:
        """Start moto's server (``moto.server.main``) and return its URL once it answers."""
        self._process = subprocess.Popen(  # noqa: S603 - our interpreter, fixed arguments  # nosec B603
            [sys.executable, "-c", _MOTO_MAIN, "-H", LOOPBACK, "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + self._startup
        while True:
            try:
                self.reset()
            except (urllib.error.URLError, ConnectionError):
                if self._process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"moto server on port {self.port} did not start") from None
                time.sleep(0.1)
            else:
                return self.url

    @property
    def pid(self) -> int | None:
        """The server's process id while it runs."""
        return self._process.pid if self._process is not None else None

    def reset(self) -> None:
        """Forget every resource (moto's reset API): a clean account."""
        reset_moto(self.url)

    def stop(self) -> None:
        """Stop the child process (idempotent)."""
        process, self._process = self._process, None
        if process is not None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def reset_moto(url: str) -> None:
    """Forget every resource on the moto server at ``url`` (moto's reset API): a clean account."""
    request = urllib.request.Request(f"{url}/moto-api/reset", method="POST")  # noqa: S310 - our own loopback URL
    with urllib.request.urlopen(request, timeout=10):  # noqa: S310 - same  # nosec B310 - a loopback http URL
        pass


def local_credentials_missing() -> bool:
    """True when no credentials are configured in the environment (the usual laptop case)."""
    return not os.environ.get("AWS_ACCESS_KEY_ID") and not os.environ.get("AWS_PROFILE")
