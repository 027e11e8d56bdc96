"""``fanout local deploy-consumer``: another team's SAM project, in another account of the running hub.

It deploys the project's stack as that account, runs its functions until Ctrl-C,
SIGTERM or the hub going away, shows its queues' counters and each failed invocation,
and deletes the stack (and its subscriptions on the hub's topic) when it stops.
"""

from __future__ import annotations

import argparse
import queue
import re
import shlex
import signal
import sys
import threading
import tomllib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Final, TextIO

from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError

from fanout.aws_rules import AwsRuleError
from fanout.deploy.exceptions import StackError

PROG: Final = "fanout local deploy-consumer"
ACCOUNT_ID: Final = re.compile(r"[0-9]{12}")
# sam deploy's long form: ParameterKey=Name,ParameterValue=Value
# https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/sam-cli-command-reference-sam-deploy.html
LONG_FORM: Final = re.compile(r"ParameterKey=(?P<key>[^,]*),ParameterValue=(?P<value>.*)")
HUB_CHECK_SECONDS: Final = 1.0


class UsageError(ValueError):
    """A refusal of the command line: one line, exit 2."""


def register(verbs: Any, default_log: Path) -> None:
    """Add ``local deploy-consumer``."""
    consumer = verbs.add_parser(
        "deploy-consumer",
        help="deploy another team's SAM project into another account of the running hub, and run it",
        description="Deploy another team's SAM project (its template.yaml) into a second account "
        "of the running `fanout local up`, build its layers as sam build does, run its "
        "functions until Ctrl-C, then delete its stack.",
    )
    consumer.add_argument("project", type=Path, help="the project's folder (or its template file)")
    consumer.add_argument(
        "--account",
        required=True,
        help="the 12-digit account to deploy into; not the hub's own account (the hub must"
        " grant it: fanout local up --parameter ConsumerAccountIds=ACCOUNT)",
    )
    consumer.add_argument(
        "--stack-name",
        help="default: stack_name of the project's samconfig.toml [default.global.parameters],"
        " else the project folder's name",
    )
    consumer.add_argument(
        "--parameter-overrides",
        nargs="*",
        default=[],
        metavar="NAME=VALUE",
        help="template parameter values, as sam deploy takes them"
        " (Name=Value or ParameterKey=Name,ParameterValue=Value)",
    )
    consumer.add_argument(
        "--logs",
        default=str(default_log),
        help="file for the functions' JSON logs ('-' leaves them on stdout)",
    )
    consumer.add_argument("--plain", action="store_true", help="plain lines even on a terminal")
    consumer.set_defaults(run=run_deploy_consumer)


# ---------------------------------------------------------------------------- the command line


def parameter_overrides(arguments: Sequence[str]) -> dict[str, str]:
    """``Name=Value`` and ``ParameterKey=Name,ParameterValue=Value``, as ``sam deploy`` reads them.

    One argument may hold several, separated by spaces (sam deploy's single string).
    """
    out: dict[str, str] = {}
    for argument in arguments:
        for pair in shlex.split(argument):
            long_form = LONG_FORM.fullmatch(pair)
            if long_form:
                out[long_form["key"]] = long_form["value"]
                continue
            name, sep, value = pair.partition("=")
            if not sep or not name:
                raise UsageError(
                    f"--parameter-overrides takes Name=Value or"
                    f" ParameterKey=Name,ParameterValue=Value, got {pair!r}"
                )
            out[name] = value
    return out


def project_template(project: Path) -> Path:
    """The project's template.yaml (or the template file given)."""
    if project.is_dir():
        template = project / "template.yaml"
        if not template.is_file():
            raise UsageError(f"{project} holds no template.yaml (the SAM project's template)")
        return template
    if not project.is_file():
        raise UsageError(f"{project}: no such project folder or template file")
    return project


def default_stack_name(template: Path) -> str:
    """``stack_name`` of the project's samconfig.toml (``[default.global.parameters]``), else its folder's name.

    Where ``sam deploy`` takes it from:
    https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/serverless-sam-cli-config.html
    """
    folder = template.resolve().parent
    config = folder / "samconfig.toml"
    if config.is_file():
        try:
            settings = tomllib.loads(config.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError):
            settings = {}
        for command in ("global", "deploy"):
            name = settings.get("default", {}).get(command, {}).get("parameters", {})
            if isinstance(name.get("stack_name"), str) and name["stack_name"]:
                return str(name["stack_name"])
    return folder.name


def hub_account(state: dict[str, Any]) -> str:
    """The running hub's account (from its topic's ARN)."""
    parts = str(state.get("topic_arn") or "").split(":")
    return parts[4] if len(parts) > 4 else ""  # noqa: PLR2004 - arn:partition:service:region:account


def check_account(account: str, state: dict[str, Any]) -> None:
    """A 12-digit account that is not the hub's own."""
    if not ACCOUNT_ID.fullmatch(account):
        raise UsageError("--account takes a 12-digit id")
    if account == hub_account(state):
        raise UsageError(
            f"--account {account} is the hub's own account; deploy-consumer deploys into a"
            " second account (deploy a consumer of the hub's own account with the hub's template)"
        )


# ---------------------------------------------------------------------------- running


def _label(function: Any) -> str:
    return str(function.environment.get("CONSUMER_NAME") or function.name)


class Progress:
    """The stack's queues: counters per function, and each failed invocation as one line."""

    def __init__(self) -> None:
        from fanout.local.deadletters import DeadLetterWatch  # noqa: PLC0415 - heavy imports
        from fanout.local.observe import EventLog, InvocationOutcome  # noqa: PLC0415 - same

        self._failed: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._retried = InvocationOutcome.RETRIED
        self.log = EventLog(also=self._note)
        self.dead_letters = DeadLetterWatch()
        """What the stack's consumers dead-lettered themselves (not processed)."""

    def _note(self, event: Any) -> None:
        if event.outcome is self._retried:
            self._failed.put(event)

    def failures(self, labels: dict[str, str]) -> list[str]:
        """``<consumer>: <ErrorType>: <message>`` for each failed invocation since the last call."""
        lines: list[str] = []
        while not self._failed.empty():
            event = self._failed.get()
            lines.append(f"{labels.get(event.function, event.function)}: {event.detail}")
        return lines

    def rows(self, consumer: Any) -> list[Any]:
        """One row per queue mapping of the stack: delivered, processed, failed, dead-lettered."""
        from fanout.connection import queue_url_of  # noqa: PLC0415 - heavy imports
        from fanout.local.deadletters import processed  # noqa: PLC0415 - same
        from fanout.local.demo import QueueStats  # noqa: PLC0415 - same
        from fanout.local.observe import InvocationOutcome  # noqa: PLC0415 - same

        sqs = consumer.connection.client("sqs")
        rows = []
        for mapping in consumer.deployment.queue_mappings:
            function = consumer.deployment.function(mapping.function)
            url = queue_url_of(sqs, mapping.source_arn)
            redrive = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["RedrivePolicy"])[
                "Attributes"
            ].get("RedrivePolicy")
            dead = 0
            if redrive:
                import json  # noqa: PLC0415 - only here

                dlq = queue_url_of(sqs, json.loads(redrive)["deadLetterTargetArn"])
                counts = sqs.get_queue_attributes(
                    QueueUrl=dlq, AttributeNames=["ApproximateNumberOfMessages"]
                )["Attributes"]
                dead = int(counts["ApproximateNumberOfMessages"])
            rows.append(
                QueueStats(
                    _label(function),
                    self.log.count(InvocationOutcome.DELIVERED, function.name),
                    processed(
                        self.log.identifiers(InvocationOutcome.SUCCEEDED, function.name),
                        self.dead_letters.of(_label(function)),
                    ),
                    self.log.count(InvocationOutcome.RETRIED, function.name),
                    dead,
                )
            )
        return rows


def _fail(message: str) -> int:
    print(f"{PROG}: {message}", file=sys.stderr)
    return 2


def _not_answering(endpoint: str) -> str:
    return f"the hub at {endpoint} is not answering; start it with `fanout local up`"


def run_deploy_consumer(args: argparse.Namespace) -> int:  # noqa: C901, PLR0911, PLR0912, PLR0915 - one procedure: refusals, deploy, run, clean up
    """Deploy the project as ``--account`` on the running hub, then run its functions until stopped.

    0 stopped (Ctrl-C, SIGTERM), 1 the hub stopped answering, 2 refused.
    """
    from fanout.crossaccount import CrossAccountRefusedError  # noqa: PLC0415 - heavy imports
    from fanout.local.access import DeliveryRefusedError  # noqa: PLC0415 - same
    from fanout.local.cli import _log_stream, _rich  # noqa: PLC0415 - same
    from fanout.local.consumer import LayerBuildError  # noqa: PLC0415 - same
    from fanout.local.demo import LiveView  # noqa: PLC0415 - same
    from fanout.local.hub import (  # noqa: PLC0415 - same
        deploy_consumer_stack,
        load_state,
        serve_running_hub,
    )
    from fanout.local.invoker import InProcessInvoker  # noqa: PLC0415 - same

    try:
        template = project_template(args.project)
        parameters = parameter_overrides(args.parameter_overrides)
    except UsageError as exc:
        return _fail(str(exc))
    state = load_state()
    if state is None or not state.get("embedded"):
        return _fail("no `fanout local up` is running")
    try:
        check_account(args.account, state)
    except UsageError as exc:
        return _fail(str(exc))
    endpoint = str(state["endpoint_url"])
    stack_name = args.stack_name or default_stack_name(template)
    logs = _log_stream(args.logs)
    out = sys.stdout
    try:
        access = serve_running_hub(state, output=logs)
    except (EndpointConnectionError, BotoCoreError) as exc:
        if logs is not None:
            logs.close()
        return _fail(
            _not_answering(endpoint) if isinstance(exc, EndpointConnectionError) else str(exc)
        )
    if access is None:
        if logs is not None:
            logs.close()
        return _fail("cannot act for the running hub")
    progress = Progress()
    access.serve(progress.dead_letters.before_call)
    invoker = InProcessInvoker(
        state.get("handler_environment") or {}, region=state["region"], output=logs
    )
    consumer = None
    try:
        print(f"deploying {stack_name} into account {args.account}...", file=out, flush=True)
        try:
            consumer = deploy_consumer_stack(
                access,
                template,
                account=args.account,
                stack_name=stack_name,
                parameters=parameters,
                layer_folders=state.get("layer_folders") or {},
                invoker=invoker,
                observer=progress.log,
                hub_topic_arn=state.get("topic_arn"),
            )
        except EndpointConnectionError:
            return _fail(_not_answering(endpoint))
        except (
            StackError,
            AwsRuleError,
            CrossAccountRefusedError,
            DeliveryRefusedError,
            LayerBuildError,
            ClientError,
        ) as exc:
            return _fail(str(exc))
        if consumer.replaced:
            print(
                f"replaced stack {stack_name}, left in account {args.account} by an earlier run",
                file=out,
            )
        print(f"deployed {stack_name} in account {args.account}", file=out)
        for function in consumer.deployment.functions:
            print(f"function: {function.name}", file=out)
        where = "this terminal" if logs is None else args.logs
        print(f"function logs: {where}", file=out)
        labels = {f.name: _label(f) for f in consumer.deployment.functions}
        return _serve(
            lambda: progress.rows(consumer),
            lambda: progress.failures(labels),
            out,
            endpoint,
            rich_output=_rich(out, args),
            view_class=LiveView,
        )
    finally:
        if consumer is not None:
            try:
                consumer.remove()
                print(f"deleted stack {stack_name} from account {args.account}", file=out)
            except (BotoCoreError, ClientError):
                consumer.discard_build()  # the hub is gone, and its accounts with it
        access.close()
        if logs is not None:
            logs.close()


def _serve(
    rows: Callable[[], list[Any]],
    failures: Callable[[], list[str]],
    out: TextIO,
    endpoint: str,
    *,
    rich_output: bool,
    view_class: Any,
) -> int:
    """Show the counters and failures until Ctrl-C or SIGTERM (0), or the hub stops answering (1)."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    # Ctrl-C even where the shell started this in the background (SIGINT ignored there).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    print("running its functions; Ctrl-C stops and deletes the stack", file=out, flush=True)
    try:
        with view_class(out, rich_output=rich_output) as view:
            while not stop.wait(HUB_CHECK_SECONDS):
                for line in failures():
                    view.note(line)
                try:
                    current = rows()
                except (EndpointConnectionError, BotoCoreError):
                    view.note(f"the hub at {endpoint} stopped answering; its consumers stop too")
                    return 1
                except ClientError as exc:
                    view.note(
                        f"the stack's queues are gone (deleted, or replaced by another run): {exc}"
                    )
                    return 1
                view.update(current)
    except KeyboardInterrupt:
        pass
    return 0
