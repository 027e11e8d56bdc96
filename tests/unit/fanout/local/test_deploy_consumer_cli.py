"""``fanout local deploy-consumer`` refuses what it cannot do in one line, before touching any endpoint."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from botocore.exceptions import EndpointConnectionError

from fanout.cli import main
from fanout.local.consumer_cli import Progress, _serve, default_stack_name, parameter_overrides
from fanout.local.demo import LiveView
from fanout.local.observe import BatchEvent, InvocationOutcome

HUB = "123456789012"
RUNNING = {
    "endpoint_url": "http://127.0.0.1:1",
    "region": "us-east-1",
    "embedded": True,
    "topic_arn": f"arn:aws:sns:us-east-1:{HUB}:fanout-hub-Topic",
    "functions": [],
}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project folder holding a template.yaml."""
    folder = tmp_path / "orders-team"
    folder.mkdir()
    (folder / "template.yaml").write_text("Resources: {}\n", encoding="utf-8")
    return folder


def deploy_consumer(*argv: str) -> int:
    return main(["local", "deploy-consumer", *argv])


def test_without_a_running_hub_it_exits_2(monkeypatch: pytest.MonkeyPatch, capsys, project):
    monkeypatch.setattr("fanout.local.hub.load_state", lambda: None)
    assert deploy_consumer(str(project), "--account", "210987654321") == 2
    assert "no `fanout local up` is running" in capsys.readouterr().err


def test_a_hub_on_another_endpoint_is_not_one_it_can_act_for(monkeypatch, capsys, project):
    # LocalStack or an account: there the endpoint itself switches accounts and runs code.
    monkeypatch.setattr("fanout.local.hub.load_state", lambda: {**RUNNING, "embedded": False})
    assert deploy_consumer(str(project), "--account", "210987654321") == 2


@pytest.mark.parametrize("account", ["21098765432", "abcdefghijkl", "2109876543210"])
def test_the_account_is_twelve_digits(monkeypatch, capsys, project, account):
    monkeypatch.setattr("fanout.local.hub.load_state", lambda: RUNNING)
    assert deploy_consumer(str(project), "--account", account) == 2
    assert "12-digit" in capsys.readouterr().err


def test_the_hubs_own_account_is_refused(monkeypatch, capsys, project):
    monkeypatch.setattr("fanout.local.hub.load_state", lambda: RUNNING)
    assert deploy_consumer(str(project), "--account", HUB) == 2
    assert f"--account {HUB} is the hub's own account" in capsys.readouterr().err


def test_the_help_says_which_accounts(capsys):
    with pytest.raises(SystemExit):
        deploy_consumer("--help")
    assert "not the hub's own account" in " ".join(capsys.readouterr().out.split())


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        (["HubTopicArn=arn:a", "Other=x=y"], {"HubTopicArn": "arn:a", "Other": "x=y"}),
        # sam deploy's long form, and several in one string as sam deploy takes them
        (
            ["ParameterKey=HubTopicArn,ParameterValue=arn:a"],
            {"HubTopicArn": "arn:a"},
        ),
        (
            ["ParameterKey=A,ParameterValue=1 B=2"],
            {"A": "1", "B": "2"},
        ),
    ],
)
def test_overrides_take_both_forms_of_sam_deploy(arguments, expected):
    assert parameter_overrides(arguments) == expected


def test_an_override_without_a_value_names_the_option(monkeypatch, capsys, project):
    monkeypatch.setattr("fanout.local.hub.load_state", lambda: RUNNING)
    argv = [str(project), "--account", "210987654321", "--parameter-overrides", "HubTopicArn"]
    assert deploy_consumer(*argv) == 2
    err = capsys.readouterr().err
    assert "--parameter-overrides takes Name=Value" in err
    assert "Traceback" not in err


def test_a_folder_that_does_not_exist_is_one_line(capsys, tmp_path):
    assert deploy_consumer(str(tmp_path / "nowhere"), "--account", "210987654321") == 2
    err = capsys.readouterr().err
    assert "nowhere: no such project folder or template file" in err
    assert len(err.strip().splitlines()) == 1


def test_a_folder_without_a_template_is_one_line(capsys, tmp_path):
    assert deploy_consumer(str(tmp_path), "--account", "210987654321") == 2
    err = capsys.readouterr().err
    assert "holds no template.yaml" in err
    assert len(err.strip().splitlines()) == 1


def test_a_stale_state_file_says_the_hub_is_not_answering(monkeypatch, capsys, project):
    # `fanout local up` was killed: its state file names an endpoint nobody serves.
    monkeypatch.setattr("fanout.local.hub.load_state", lambda: RUNNING)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    assert deploy_consumer(str(project), "--account", "210987654321", "--logs", "-") == 2
    err = capsys.readouterr().err
    assert "the hub at http://127.0.0.1:1 is not answering" in err
    assert "fanout local up" in err
    assert "Traceback" not in err


def test_the_stack_name_comes_from_samconfig(project):
    assert default_stack_name(project / "template.yaml") == "orders-team"
    (project / "samconfig.toml").write_text(
        'version = 0.1\n[default.global.parameters]\nstack_name = "orders"\n', encoding="utf-8"
    )
    assert default_stack_name(project / "template.yaml") == "orders"


def failed(function: str, detail: str) -> BatchEvent:
    return BatchEvent(InvocationOutcome.RETRIED, function, "arn:aws:sqs:::q", ("m-1",), detail)


def test_each_failed_invocation_is_one_line_naming_the_consumer():
    progress = Progress()
    progress.log(failed("other-team-fn", "ModuleNotFoundError: No module named 'humanize'"))
    lines = progress.failures({"other-team-fn": "other-team-orders"})
    assert lines == ["other-team-orders: ModuleNotFoundError: No module named 'humanize'"]
    assert progress.failures({}) == []  # each reported once


def test_when_the_hub_stops_answering_it_says_so_and_exits_1():
    out = io.StringIO()

    def rows() -> list[object]:
        raise EndpointConnectionError(endpoint_url="http://127.0.0.1:1")

    code = _serve(rows, list, out, "http://127.0.0.1:1", rich_output=False, view_class=LiveView)
    assert code == 1
    assert "the hub at http://127.0.0.1:1 stopped answering" in out.getvalue()
