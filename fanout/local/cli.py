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
from fanout.options import UsageError, non_negative_int, positive_float

DEFAULT_LOG: Final = Path(tempfile.gettempdir()) / "fanout-local-hub.log"


def _parameters(pairs: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep:
            raise argparse.ArgumentTypeError(f"--parameter needs Name=Value, got {pair!r}")
        out[name] = value
    return out


def _deployment_options(parser: argparse.ArgumentParser, deployed: str) -> None:
    """``--region``, ``--template``, ``--parameter``: how ``deployed`` is deployed."""
    parser.add_argument(
        "--region", default="us-east-1", help=f"region of {deployed} (default: us-east-1)"
    )
    parser.add_argument(
        "--template",
        default="template.yaml",
        type=Path,
        metavar="FILE",
        help=f"the SAM template of {deployed} (default: template.yaml)",
    )
    parser.add_argument(
        "--parameter",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help=f"a template parameter of {deployed} (repeatable)",
    )


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
    _deployment_options(up, "the hub")
    up.add_argument(
        "--retry-after",
        type=non_negative_int,
        default=None,
        metavar="SECONDS",
        help="make a failed queue message visible again after SECONDS instead of the "
        "queue's VisibilityTimeout (default: 1 with --demo, the queue's own otherwise)",
    )
    up.add_argument(
        "--timeout",
        type=positive_float,
        default=120.0,
        metavar="SECONDS",
        help="--demo: give up after this many seconds (default: 120)",
    )
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
    invoke.add_argument(
        "function",
        help="the function: its logical id (RouterFunction, BillingConsumer), its name, or a "
        "consumer's short name (billing)",
    )
    invoke.add_argument(
        "--event", required=True, type=Path, metavar="FILE", help="event JSON file ('-': stdin)"
    )
    invoke.add_argument(
        "--endpoint-url",
        metavar="URL",
        help="endpoint of the resources (default: the running hub's, else a hub started for the call)",
    )
    _deployment_options(invoke, "a hub started for the call (none running)")
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
    # A shell starts a background job (`fanout local up &` in a script) with SIGINT
    # ignored, and the hub would then outlive `kill -INT`: Ctrl-C stops it however it
    # was started. https://www.gnu.org/software/bash/manual/html_node/Signals.html
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        subscribers = hub.subscribers()
        print(
            "running; write to the table, try `fanout tail` in another terminal; Ctrl-C stops",
            file=out,
            flush=True,
        )
        with LiveView(out, rich_output=rich_output) as view:
            while not stop.wait(1.0):
                view.update(stats(hub, subscribers))
    except KeyboardInterrupt:
        pass
    return 0


def read_event(source: Path, stdin: TextIO | None = None) -> Any:
    """The event in ``source`` ('-': stdin); ``UsageError`` naming the file when unreadable or not JSON."""
    where = "stdin" if str(source) == "-" else str(source)
    try:
        text = (stdin or sys.stdin).read() if str(source) == "-" else source.read_text("utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read the event file {where}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise UsageError(f"the event file {where} is not UTF-8 text: {exc}") from None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise UsageError(f"the event file {where} is not JSON: {exc}") from None


def _names_of(function: Any) -> set[str]:
    """Every name ``fanout local invoke`` takes for a function.

    Its name, its logical id, and for a consumer (a nested application's function,
    ``BillingConsumer/ConsumerFunction``) the application's logical id
    (``BillingConsumer``), the lifted id ``sam local invoke`` knows it by
    (``BillingConsumerFunction``, ``fanout.local_invoke``) and its short name (``billing``).
    """
    from fanout.local_invoke import lifted_path  # noqa: PLC0415 - only to name functions

    names = {function.name, function.logical_id}
    application, _, _ = function.logical_id.partition("/")
    names.add(application)
    lifted = lifted_path(function.logical_id)
    if lifted:
        names.add(lifted)
    short = (function.environment or {}).get("CONSUMER_NAME")
    if short:
        names.add(short)
    return names


def _label(function: Any) -> str:
    application = function.logical_id.partition("/")[0]
    short = (function.environment or {}).get("CONSUMER_NAME")
    return f"{application} ({short})" if short else application


def find_function(functions: Any, name: str) -> Any:
    """The function ``name`` means (see ``_names_of``); ``UsageError`` listing the valid names."""
    for function in functions:
        if name in _names_of(function):
            return function
    known = ", ".join(sorted(_label(f) for f in functions)) or "none"
    raise UsageError(f"no function {name!r} in the hub (functions: {known})")


def run_invoke(args: argparse.Namespace) -> int:
    """Invoke one function with the template's configuration; prints the response JSON."""
    from fanout.local.hub import LocalHub  # noqa: PLC0415 - heavy imports
    from fanout.local.invoker import InProcessInvoker  # noqa: PLC0415 - same
    from fanout.local.model import FunctionSpec  # noqa: PLC0415 - same
    from fanout.options import running_hub  # noqa: PLC0415 - same

    event = read_event(args.event)
    state = running_hub() if args.endpoint_url is None else None
    if state is not None:
        function = find_function([FunctionSpec(**f) for f in state["functions"]], args.function)
        _check_event_source(function, event, args.event)
        invoker = InProcessInvoker(state["handler_environment"], region=state["region"])
        return _print_invocation(invoker.invoke(function, event))
    if not args.template.is_file():
        raise UsageError(f"no template {args.template} to start a hub from (--template)")
    hub = LocalHub(
        args.endpoint_url,
        region=args.region,
        template=args.template,
        parameters=_parameters(args.parameter),
        start_emulator=False,
    )
    try:
        hub.start()
        function = find_function(hub.deployment.functions, args.function)
        _check_event_source(function, event, args.event)
        invoker = InProcessInvoker(hub.handler_environment(), region=args.region)
        return _print_invocation(invoker.invoke(function, event))
    except (StackError, AwsRuleError) as exc:
        # A non-local endpoint, or what AWS would refuse: say what, in one line.
        print(f"fanout local invoke: {exc}", file=sys.stderr)
        return 2
    finally:
        hub.stop()


ROUTER_HANDLER: Final = "router.app.handler"


def _check_event_source(function: Any, event: Any, source: Path) -> None:
    """``UsageError`` when the event's records come from a source this function never reads.

    The router reads the table's stream (``aws:dynamodb`` records); every other function
    of the hub is a consumer reading its SQS queue (``aws:sqs``). The events folder holds
    both kinds (events/router/, events/<consumer>/).
    """
    records = event.get("Records") if isinstance(event, dict) else None
    if not isinstance(records, list):
        return  # not a batch at all: the handler says what it expected
    sources = {r.get("eventSource") for r in records if isinstance(r, dict)}
    wanted = "aws:dynamodb" if function.handler == ROUTER_HANDLER else "aws:sqs"
    if sources and sources != {wanted}:
        where = (
            "events/router/insert.json"
            if wanted == "aws:dynamodb"
            else "events/projection/sqs-raw.json"
        )
        raise UsageError(
            f"{source} holds {', '.join(sorted(map(str, sources)))} records, but"
            f" {function.logical_id} reads {wanted} records (e.g. {where})"
        )


def _print_invocation(invocation: Any) -> int:
    if invocation.failed:
        error = {"errorType": invocation.error_type, "errorMessage": invocation.error_message}
        print(json.dumps(error, indent=2))
        print("".join(invocation.stack), file=sys.stderr)
        return 1
    print(json.dumps(invocation.response, indent=2))
    return 0
