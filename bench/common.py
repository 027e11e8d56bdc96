"""What every benchmark shares: the workload, the moto server, the SNS meter, the machine.

Benchmarks run as scripts (``python bench/<name>.py``), so this folder is on
``sys.path`` and ``tests/`` is added for the record builders.

Import this module before anything imports botocore: it makes botocore sign
requests in Python, as the deployed router does (see ``BOTO_DISABLE_CRT`` below).
"""

from __future__ import annotations

import math
import os
import platform
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# The dev environment has awscrt (aws-sam-cli pulls in boto3[crt]); with it installed
# botocore signs through the CRT, which reads a request body twice more than its Python
# signer. The deployed router ships boto3 without awscrt (fanout.build exports the
# runtime dependencies only), so benchmarks sign as it does. botocore reads this once,
# when it is first imported; BOTO_DISABLE_CRT=false in the environment overrides it.
os.environ.setdefault("BOTO_DISABLE_CRT", "true")

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT / "tests") not in sys.path:
    sys.path.insert(0, str(ROOT / "tests"))

from support.builders import a_stream_record  # noqa: E402 - needs the path above

FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_XRAY_SDK_ENABLED": "false",
    "AWS_XRAY_CONTEXT_MISSING": "IGNORE_ERROR",
}


def use_fake_aws() -> None:
    """Fake credentials and region for this process: nothing may reach real AWS."""
    os.environ.update(FAKE_AWS_ENV)


def records(n: int, item_bytes: int, start: int = 0) -> list[dict[str, Any]]:
    """``n`` MODIFY records whose images are about ``item_bytes`` each (padding in one attribute)."""
    pad = "x" * max(0, item_bytes - 200)
    return [
        a_stream_record(
            "MODIFY",
            keys={"pk": f"ORDER#{i}", "sk": "META"},
            new={"pk": f"ORDER#{i}", "sk": "META", "status": "SHIPPED", "total": i, "note": pad},
            old={"pk": f"ORDER#{i}", "sk": "META", "status": "PLACED", "total": i, "note": pad},
        )
        for i in range(start, start + n)
    ]


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class MotoServer:
    """A running moto server: its endpoint, and how much CPU its process has used."""

    def __init__(self, url: str, pid: int) -> None:
        self.url = url
        self.pid = pid

    def cpu_seconds(self) -> float:
        """User + system CPU of the server process so far (from /proc; 0 where unavailable)."""
        try:
            fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        # Fields 14 and 15 of /proc/PID/stat (utime, stime), counted after the ")".
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def moto_server() -> Iterator[MotoServer]:
    """A moto server in its own process (its CPU is not ours)."""
    port = free_port()
    proc = subprocess.Popen(  # noqa: S603 - our own interpreter, fixed arguments
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _wait_for(port, proc)
    try:
        yield MotoServer(f"http://127.0.0.1:{port}", proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


_STUB_SNS = r"""
import re, socket, sys, uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

NS = "http://sns.amazonaws.com/doc/2010-03-31/"
IDS = re.compile(rb"PublishBatchRequestEntries\.member\.\d+\.Id=([^&]*)")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as SNS's endpoint does

    def setup(self):
        super().setup()
        # Headers and body go out in separate writes; without this, Nagle holds the body
        # back until the client's delayed ACK (up to 40 ms on Linux) on a kept-alive socket.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if b"Action=PublishBatch" in body:
            members = "".join(
                f"<member><Id>{i.decode()}</Id><MessageId>{uuid.uuid4()}</MessageId></member>"
                for i in IDS.findall(body)
            )
            result = f"<Successful>{members}</Successful><Failed/>"
            action = "PublishBatch"
        else:
            result, action = f"<MessageId>{uuid.uuid4()}</MessageId>", "Publish"
        out = (
            f'<{action}Response xmlns="{NS}"><{action}Result>{result}</{action}Result>'
            f"<ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata>"
            f"</{action}Response>"
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/xml")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
"""


@contextmanager
def stub_sns() -> Iterator[MotoServer]:
    """An SNS endpoint that accepts every Publish and PublishBatch and does nothing else.

    For the router's own bound: what it costs with a server whose CPU is not on this
    machine. It checks nothing; moto is the reference for behaviour.
    """
    port = free_port()
    proc = subprocess.Popen(  # noqa: S603 - our own interpreter, fixed arguments
        [sys.executable, "-c", _STUB_SNS, str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for(port, proc)
        yield MotoServer(f"http://127.0.0.1:{port}", proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _wait_for(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        except OSError:
            time.sleep(0.05)
        else:
            return
    proc.terminate()
    raise RuntimeError(f"server on port {port} did not start within 30 s")


class CallMeter:
    """Counts SNS requests and adds a fixed latency to each, like a network round trip.

    The sleep happens in botocore's ``before-send`` hook, in the calling thread,
    so parallel calls overlap their latency exactly as real round trips would.
    """

    def __init__(self, client: Any, latency: float) -> None:
        self.calls = 0
        self.accepted = 0
        self.latency = latency
        # The router calls from several threads; `+=` on an attribute is not atomic.
        self._lock = threading.Lock()
        client.meta.events.register("before-send.sns.*", self._before_send)
        client.meta.events.register("after-call.sns.*", self._after_call)

    def _before_send(self, **_: Any) -> None:
        with self._lock:
            self.calls += 1
        if self.latency:
            time.sleep(self.latency)

    def _after_call(self, parsed: dict[str, Any], **_: Any) -> None:
        # Messages SNS accepted: one MessageId per Publish, one per Successful batch entry.
        accepted = len(parsed.get("Successful", [])) + (1 if "MessageId" in parsed else 0)
        with self._lock:
            self.accepted += accepted

    def reset(self) -> None:
        """Start counting from zero."""
        with self._lock:
            self.calls = 0
            self.accepted = 0


def client_settings(*, parameter_validation: bool) -> dict[str, Any]:
    """botocore ``Config`` arguments every contender's clients share.

    router/app.py's client settings (timeouts, standard retries, a 16-connection
    pool), with ``parameter_validation`` chosen by the run.
    """
    return {
        "connect_timeout": 3,
        "read_timeout": 10,
        "retries": {"mode": "standard", "max_attempts": 3},
        "max_pool_connections": 16,
        "parameter_validation": parameter_validation,
    }


def signer() -> str:
    """How botocore signs in this process: through awscrt or in Python."""
    from botocore.compat import HAS_CRT  # noqa: PLC0415 - after the environment is set

    return "awscrt" if HAS_CRT else "Python (no awscrt, as deployed)"


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100), nearest-rank on the sorted values."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered), max(1, math.ceil(q / 100 * len(ordered)))) - 1]


def median(values: Sequence[float]) -> float:
    """The median, NaN for nothing."""
    return statistics.median(values) if values else float("nan")


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo (or the platform's guess)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def load_average() -> str:
    """The 1/5/15-minute load averages, as printed next to every result."""
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return "n/a"
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def machine_line() -> str:
    """Date, cores, CPU model and Python: the header every benchmark prints."""
    return (
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores ({cpu_model()}), "
        f"{platform.system()} {platform.machine()}, Python {platform.python_version()}"
    )


def header(title: str) -> None:
    """Print a section title with the machine and the load average at this moment."""
    print(f"\n## {title}")
    print(f"# {machine_line()}")
    print(f"# load average (1/5/15 min): {load_average()}")


def table(rows: Sequence[Sequence[object]], headings: Sequence[str]) -> None:
    """Print a Markdown table (pastes straight into docs/benchmarks.md)."""
    texts = [[str(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in texts)) for i, h in enumerate(headings)]
    print("| " + " | ".join(h.ljust(w) for h, w in zip(headings, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in texts:
        print("| " + " | ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) + " |")
