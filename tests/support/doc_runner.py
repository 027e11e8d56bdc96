"""Run the docs' ``<!-- docs-test: run -->`` shell blocks as a reader would type them.

One ``DocSession`` is what a newcomer has: a fresh ``git clone`` of the repository's
last commit (``support.fresh_clone.clone_head``: uncommitted changes are not in it),
a private temporary directory (so the hub's state file, ``$TMPDIR/fanout-local-hub.json``,
is this session's alone) and a shell environment with no project tooling in it: no uv,
no ``.venv`` on ``PATH`` (``without_project_tooling``), no AWS credentials or profile of
the caller (nothing may reach a real account) and no ``PYTHONDONTWRITEBYTECODE``.
The docs' own setup step (``make setup && source .venv/bin/activate``) is what puts
``fanout``, ``pytest`` and ``sam`` on its ``PATH``: the clone bootstraps its own uv in
``.tools/`` and installs the locked packages into its own ``.venv``.

What it reuses from this machine, and why that hides no missing step: pip's and uv's
download caches (the same packages a first ``make setup`` would download; uv links them
from its cache, so the setup takes seconds), and ``python3``, ``make``, ``git`` and
``bash`` from ``PATH``, which the README asks a reader to have.

The commands share one shell's environment, as in one terminal: what a command
exports (``source .venv/bin/activate``) holds for the next ones. A command that runs
until Ctrl-C (``fanout local up``, ``fanout tail``: a reader runs it in another
terminal) is started in the background and waited for until it says it is ready;
every other command runs to completion and must exit 0. The session's hub serves
every document: a later ``fanout local up`` line with the same arguments (``--logs``
aside) is the hub already running in "terminal 1", unless template.yaml changed since
it started; then it is started again.
"""

from __future__ import annotations

import queue
import shlex
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from support.doc_commands import ShellBlock
from support.fresh_clone import clone_head, without_project_tooling

# Variables a shell sets for itself: not part of what a command leaves for the next one.
SHELL_OWN = frozenset({"PWD", "OLDPWD", "SHLVL", "_"})
# What a long-running command prints once it is ready for the next terminal's commands.
READY = {
    ("fanout", "local", "up"): "running; write to the table",
    ("fanout", "tail"): "tailing ",
}
COMMAND_TIMEOUT = 180.0
READY_TIMEOUT = 120.0
EXPECT_TIMEOUT = 60.0


class Background:
    """A long-running command's process and everything it has printed so far."""

    def __init__(self, command: str, process: subprocess.Popen[str]) -> None:
        self.command = command
        self.process = process
        self.output = ""
        self.finished = False
        self._lines: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        stdout = process.stdout
        assert stdout is not None

        def pump() -> None:
            for line in stdout:
                self._lines.put(line)
            self._lines.put(None)

        threading.Thread(target=pump, daemon=True).start()

    def read(self, timeout: float) -> bool:
        """Take what it printed within ``timeout``; False once it has exited and said all."""
        if self.finished:
            return False
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            return True
        if line is None:
            self.finished = True
            return False
        self.output += line
        return True

    def stop(self) -> None:
        """Ctrl-C, as the reader would; killed if it does not stop."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)
        while self.read(0.1):
            pass


@dataclass
class Ran:
    """One command of a block: what ran, how it ended, how long it took."""

    where: str
    command: str
    seconds: float
    output: str = ""


@dataclass
class DocSession:
    """A fresh clone of the repository with its own temporary directory, shell environment and hub."""

    root: Path
    tmp: Path
    background: list[Background] = field(default_factory=list)
    _hub_template: bytes = b""
    ran: list[Ran] = field(default_factory=list)
    env: dict[str, str] | None = None
    """The shell's environment as the last command left it (None: as a new terminal's)."""
    done: set[str] = field(default_factory=set)
    """The blocks run so far (``where``): a block is typed once per session."""

    @classmethod
    def fresh(cls, where: Path) -> DocSession:
        """``git clone`` of the repository's HEAD under ``where``: no .tools, no .venv, no caches."""
        root = clone_head(where / "fanout-hub")
        tmp = where / "tmp"
        tmp.mkdir()
        return cls(root, tmp)

    def environment(self) -> dict[str, str]:
        """The shell's environment: a new terminal's in a fresh clone, then as commands left it."""
        if self.env is not None:
            return dict(self.env)
        env = {
            k: v
            for k, v in without_project_tooling().items()
            if not k.startswith("AWS_") and k != "PYTHONDONTWRITEBYTECODE"
        }
        env |= {
            "TMPDIR": str(self.tmp),
            "AWS_EC2_METADATA_DISABLED": "true",  # no credentials from an instance either
            "AWS_CONFIG_FILE": str(self.tmp / "aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(self.tmp / "aws-credentials"),
        }
        return env

    def run_block(self, block: ShellBlock) -> None:
        """Each command in order; then every ``expect`` text from a long-running one.

        ``expect`` reads what the block's own long-running commands print (every one
        of the session's when the block starts none).
        """
        if block.where in self.done:
            return
        self.done.add(block.where)
        first = len(self.background)
        for command in block.commands():
            words = shlex.split(command, comments=True)
            ready = next(
                (text for head, text in READY.items() if tuple(words[: len(head)]) == head), None
            )
            if ready is None:
                self._complete(block.where, command)
            elif words[:3] == ["fanout", "local", "up"] and self._hub() is not None:
                self._same_hub(block.where, words, command, ready)
            else:
                self._start(block.where, command, ready)
        watched = self.background[first:] or self.background
        for text in block.expect:
            self._wait_for(block.where, text, watched)

    def _complete(self, where: str, command: str) -> None:
        """Run ``command`` to its end; keep the environment it leaves, as one terminal would."""
        started = time.monotonic()
        kept = self.tmp / "environment"
        kept.unlink(missing_ok=True)
        # The command's own line, then its exit status saved while its environment is dumped.
        script = f'{command}\n__status=$?; env -0 > "$__FANOUT_DOC_ENV"; exit $__status'
        env = self.environment() | {"__FANOUT_DOC_ENV": str(kept)}
        done = subprocess.run(  # noqa: S603 - the docs' own commands, in a scratch clone
            ["bash", "-o", "pipefail", "-c", script],  # noqa: S607 - bash from PATH
            cwd=self.root,
            env=env,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT,
            check=False,
        )
        output = done.stdout + done.stderr
        self.ran.append(Ran(where, command, time.monotonic() - started, output))
        assert done.returncode == 0, f"{where}: `{command}` exited {done.returncode}:\n{output}"
        if kept.is_file():
            pairs = (item.partition("=") for item in kept.read_text().split("\0") if item)
            self.env = {
                name: value
                for name, _, value in pairs
                if name not in SHELL_OWN and name != "__FANOUT_DOC_ENV"
            }

    def _start(self, where: str, command: str, ready: str) -> None:
        started = time.monotonic()
        if command.split()[:3] == ["fanout", "local", "up"]:
            self._hub_template = self._template()
        process = subprocess.Popen(  # noqa: S603 - the docs' own commands, in a scratch clone
            ["bash", "-c", f"exec {command}"],  # noqa: S607 - bash from PATH
            cwd=self.root,
            env=self.environment(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        running = Background(command, process)
        self.background.append(running)
        deadline = started + READY_TIMEOUT
        while ready not in running.output:
            assert time.monotonic() < deadline, f"{where}: `{command}` not ready:\n{running.output}"
            assert running.read(1.0), f"{where}: `{command}` exited:\n{running.output}"
        self.ran.append(Ran(where, command, time.monotonic() - started, running.output))

    def _hub(self) -> Background | None:
        """The running hub, if any."""
        return next(
            (
                b
                for b in self.background
                if b.command.split()[:3] == ["fanout", "local", "up"] and b.process.poll() is None
            ),
            None,
        )

    def _template(self) -> bytes:
        return (self.root / "template.yaml").read_bytes()

    def _same_hub(self, where: str, words: list[str], command: str, ready: str) -> None:
        """The running hub serves ``words`` if they ask for the same hub of the same template.

        The hub deploys template.yaml when it starts: after a document changed it (a
        scaffolded consumer), its reader starts a new hub, and so does the session
        (everything started against the old one stops with it).
        """
        hub = self._hub()
        assert hub is not None

        def significant(argv: list[str]) -> list[str]:
            out, skip = [], False
            for word in argv:
                if skip or word == "--logs":
                    skip = not skip
                    continue
                out.append(word)
            return out

        assert significant(words) == significant(shlex.split(hub.command, comments=True)), (
            f"{where}: `{shlex.join(words)}` needs another hub than the running "
            f"`{hub.command}`: mark the block illustrative"
        )
        if self._template() != self._hub_template:
            self.stop()
            self._start(where, command, ready)
            return
        self.ran.append(Ran(where, shlex.join(words), 0.0, "(the hub already running)"))

    def _wait_for(self, where: str, text: str, watched: list[Background]) -> None:
        started = time.monotonic()
        deadline = started + EXPECT_TIMEOUT
        while not any(text in b.output for b in watched):
            assert time.monotonic() < deadline, (
                f"{where}: no long-running command printed {text!r}:\n"
                + "\n".join(f"$ {b.command}\n{b.output}" for b in watched)
            )
            for running in watched:
                running.read(0.2)
        self.ran.append(Ran(where, f"(expect) {text}", time.monotonic() - started))

    def stop(self) -> None:
        """Ctrl-C every long-running command, the last started first."""
        for running in reversed(self.background):
            running.stop()
