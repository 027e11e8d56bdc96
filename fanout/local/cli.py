"""``fanout local up`` and ``fanout local invoke``: the hub on this machine, no Docker."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any, Final, TextIO

from fanout.aws_rules import AwsRuleError
from fanout.deploy.exceptions import StackError
from fanout.local import put
from fanout.local.esm import EmulatorSettings
from fanout.local.queues import QueueSettings

DEFAULT_LOG: Final = Path(tempfile.gettempdir()) / "fanout-local-hub.log"


def _parameters(pairs: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep:
            raise argparse.ArgumentTypeError(f"--parameter needs Name=Value, got {pair!r}")
        out[name] = value
    return out


def register(subcommands: Any) -> None:
    """Add ``local up``, ``local put``, ``local invoke`` and ``local deploy-consumer``."""
    local = subcommands.add_parser("local", help="run the whole hub on this machine (no Docker)")
    verbs = local.add_subparsers(dest="local_command", required=True, metavar="VERB")

    up = verbs.add_parser("up", help="start moto, deploy template.yaml, emulate the mappings")
    up.add_argument("--demo", action="store_true", help="write a demo stream, prove no loss, exit")
    up.add_argument(
        "--endpoint-url",
        help="use this endpoint (LocalStack, ...) instead of the embedded moto server",
    )
    up.add_argument("--region", default="us-east-1")
    up.add_argument("--template", default="template.yaml", type=Path)
    up.add_argument(
        "--parameter",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="template parameter override (repeatable)",
    )
    up.add_argument(
        "--retry-after",
        type=int,
        default=None,
        metavar="SECONDS",
        help="make a failed queue message visible again after SECONDS instead of the "
        "queue's VisibilityTimeout (default: 1 with --demo, the queue's own otherwise)",
    )
    up.add_argument("--timeout", type=float, default=120.0, help="--demo: give up after this")
    up.add_argument(
        "--logs",
        default=str(DEFAULT_LOG),
        help="file for the handlers' JSON logs ('-' leaves them on stdout)",
    )
    up.add_argument("--plain", action="store_true", help="plain lines even on a terminal")
    up.set_defaults(run=run_up)

    put.add_parser(verbs)

    invoke = verbs.add_parser(
        "invoke", help="invoke one function on an event, like sam local invoke"
    )
    invoke.add_argument("function", help="logical id (RouterFunction) or function name")
    invoke.add_argument("--event", required=True, type=Path, help="event JSON file ('-': stdin)")
    invoke.add_argument("--endpoint-url", help="endpoint of the resources (default: a running hub)")
    invoke.add_argument("--region", default="us-east-1")
    invoke.add_argument("--template", default="template.yaml", type=Path)
    invoke.add_argument("--parameter", action="append", default=[], metavar="NAME=VALUE")
    invoke.set_defaults(run=run_invoke)

    from fanout.local import consumer_cli  # noqa: PLC0415 - it imports this module's helpers

    consumer_cli.register(verbs, DEFAULT_LOG)


def _log_stream(target: str) -> TextIO | None:
    if target == "-":
        return None
    return Path(target).open("a", encoding="utf-8")


def run_up(args: argparse.Namespace) -> int:
    """Start the hub; with --demo run the demo and exit with its verdict, else run until Ctrl-C."""
    from fanout.local.demo import parameters_for_demo, run_demo  # noqa: PLC0415 - heavy imports
    from fanout.local.hub import LocalHub  # noqa: PLC0415 - same

    out = sys.stdout
    retry_after = args.retry_after if args.retry_after is not None else (1 if args.demo else None)
    try:
        parameters = _parameters(args.parameter)
    except argparse.ArgumentTypeError as exc:
        print(f"fanout local up: {exc}", file=sys.stderr)
        return 2
    if args.demo:
        parameters = parameters_for_demo(parameters)
    elif not _claim_state_file(out):
        return 2
    logs = _log_stream(args.logs)
    hub = LocalHub(
        args.endpoint_url,
        region=args.region,
        template=args.template,
        parameters=parameters,
        settings=EmulatorSettings(queue=QueueSettings(retry_visibility_seconds=retry_after)),
        write_state=not args.demo,
        handler_output=logs,
    )
    print("starting the local hub (moto server, template.yaml, mapping emulator)...", file=out)
    try:
        hub.start()
        print(f"endpoint: {hub.endpoint_url}", file=out)
        print(f"table: {hub.table_name}  topic: {hub.topic_arn}", file=out)
        if hub.kit_url:
            print(f"consumer kit: {hub.kit_url}", file=out)
        if logs is not None:
            print(f"handler logs: {args.logs}", file=out)
        if args.demo:
            ok = run_demo(hub, out=out, timeout=args.timeout, rich_output=_rich(out, args))
            return 0 if ok else 1
        return _serve(hub, out, rich_output=_rich(out, args))
    except (StackError, AwsRuleError) as exc:
        # AWS would refuse this template or these parameters: say what, as AWS says it.
        print(f"fanout local up: {exc}", file=sys.stderr)
        return 2
    finally:
        hub.stop()
        if logs is not None:
            logs.close()


def _claim_state_file(out: TextIO) -> bool:
    """False (with one line) if the state file names a hub that still runs; a stale one is replaced.

    There is one state file per machine (per temp dir): a second hub would take it
    over from the first, which every other command would then lose. ``--demo``
    writes none, so it runs beside a hub.
    """
    from fanout.local.hub import STATE_FILE, hub_alive, load_state  # noqa: PLC0415 - heavy imports

    state = load_state()
    if state is None:
        return True
    endpoint, pid = state.get("endpoint_url"), state.get("pid")
    if hub_alive(state):
        print(
            f"fanout local up: a local hub is already running at {endpoint} (pid {pid}); "
            "stop it first (Ctrl-C in its terminal)",
            file=sys.stderr,
        )
        return False
    print(f"note: replacing {STATE_FILE}: its hub (pid {pid}, {endpoint}) no longer runs", file=out)
    return True


def _rich(out: TextIO, args: argparse.Namespace) -> bool:
    return out.isatty() and not args.plain


def _serve(hub: Any, out: TextIO, *, rich_output: bool) -> int:
    """Show the live view until Ctrl-C (or SIGTERM)."""
    from fanout.local.demo import LiveView, stats  # noqa: PLC0415 - heavy imports

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print(
        "running; write to the table, try `fanout tail` in another terminal; Ctrl-C stops",
        file=out,
        flush=True,
    )
    subscribers = hub.subscribers()
    try:
        with LiveView(out, rich_output=rich_output) as view:
            while not stop.wait(1.0):
                view.update(stats(hub, subscribers))
    except KeyboardInterrupt:
        pass
    return 0


def run_invoke(args: argparse.Namespace) -> int:
    """Invoke one function with the template's configuration; prints the response JSON."""
    from fanout.local.hub import LocalHub, load_state  # noqa: PLC0415 - heavy imports
    from fanout.local.invoker import InProcessInvoker  # noqa: PLC0415 - same
    from fanout.local.model import FunctionSpec  # noqa: PLC0415 - same

    text = sys.stdin.read() if str(args.event) == "-" else args.event.read_text()
    event = json.loads(text)
    state = load_state() if args.endpoint_url is None else None
    if state is not None:
        functions = [FunctionSpec(**f) for f in state["functions"]]
        function = next((f for f in functions if args.function in {f.name, f.logical_id}), None)
        if function is None:
            print(f"no function {args.function!r} in the running hub", file=sys.stderr)
            return 2
        invoker = InProcessInvoker(state["handler_environment"], region=state["region"])
        return _print_invocation(invoker.invoke(function, event))
    hub = LocalHub(
        args.endpoint_url,
        region=args.region,
        template=args.template,
        parameters=_parameters(args.parameter),
        start_emulator=False,
    )
    try:
        hub.start()
        function = hub.deployment.function(args.function)
        invoker = InProcessInvoker(hub.handler_environment(), region=args.region)
        return _print_invocation(invoker.invoke(function, event))
    except (StackError, AwsRuleError) as exc:
        # A non-local endpoint, or what AWS would refuse: say what, in one line.
        print(f"fanout local invoke: {exc}", file=sys.stderr)
        return 2
    finally:
        hub.stop()


def _print_invocation(invocation: Any) -> int:
    if invocation.failed:
        error = {"errorType": invocation.error_type, "errorMessage": invocation.error_message}
        print(json.dumps(error, indent=2))
        print("".join(invocation.stack), file=sys.stderr)
        return 1
    print(json.dumps(invocation.response, indent=2))
    return 0
